/**
 * Runs `fn` at most once per `intervalMs`, however often it is requested. A request never runs
 * `fn` synchronously: it runs on a timer (0 ms when the last run is old enough), so a burst of
 * scheduler events in one turn becomes one run that sees the state after all of them.
 */
export class Throttle {
  private lastRun = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: () => void,
  ) {}

  request(): void {
    if (this.timer) return; // a run is already due: it will see this change too
    const wait = Math.max(0, this.lastRun + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastRun = Date.now();
      this.fn();
    }, wait);
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
