/** A handler's progress reports, throttled so a chatty handler cannot flood the main thread. */

/** At most one report per task per interval; the latest one wins. */
export const PROGRESS_INTERVAL_MS = 100;

export class ProgressReporter {
  #timer: NodeJS.Timeout | undefined;
  #pending: { value: number; info: unknown } | undefined;

  constructor(private readonly send: (value: number, info: unknown) => void) {}

  report(value: number, info?: unknown): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`ctx.progress() expects a finite number, got ${String(value)}`);
    // Checked here: posted later (throttled), an uncloneable `info` would reject where no one hears it.
    if (info !== undefined) {
      try {
        structuredClone(info);
      } catch (error) {
        throw new TypeError(`ctx.progress(): \`info\` must be structured-cloneable plain data (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    if (this.#timer !== undefined) {
      this.#pending = { value, info };
      return;
    }
    this.send(value, info);
    this.#arm();
  }

  /** Sends the last held-back report now (the task is ending). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sendPending();
  }

  /** Holds back reports for one interval; a report held back meanwhile goes out at its end. */
  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#sendPending()) this.#arm();
    }, PROGRESS_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Sends the held-back report, if any; says whether there was one. */
  #sendPending(): boolean {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined) return false;
    this.send(pending.value, pending.info);
    return true;
  }
}
