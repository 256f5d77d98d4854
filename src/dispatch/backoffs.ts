/** Tasks waiting out a retry backoff: durably queued already, back in the in-memory queue when their timer fires. */
export class Backoffs {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  get size(): number {
    return this.timers.size;
  }

  wait(id: string, delayMs: number, due: () => void): void {
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        due();
      }, delayMs),
    );
  }

  /** Stops waiting for `id`; false when it was not waiting. */
  cancel(id: string): boolean {
    const timer = this.timers.get(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(id);
    return true;
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
