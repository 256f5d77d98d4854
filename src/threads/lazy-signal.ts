/**
 * A task's `ctx.signal`, made only when its handler (or `ctx.vram.grow()`) first reads it: an
 * AbortSignal costs a worker about 3 µs to make, more than the rest of a no-op task's bookkeeping
 * there, and most handlers never read it. A stop that comes first is kept, and the signal is then
 * made already aborted with its reason, as the signal would have been had it existed.
 */
export class LazySignal {
  private controller: AbortController | undefined;
  private stopped: { reason: unknown } | undefined;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.stopped !== undefined) this.controller.abort(this.stopped.reason);
    }
    return this.controller.signal;
  }

  /** Aborts the signal with `reason`, now or when it is made; later calls do nothing, as with AbortController. */
  abort(reason: unknown): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else this.stopped ??= { reason };
  }
}
