/**
 * Tasks of `gpu: false` types skip VRAM accounting and batching: they start as soon as the
 * shared free-lane pool has room, most urgent and oldest first across the free types.
 */
import type { QueueEntry } from '../task.js';
import type { TaskQueues } from './queues.js';

export interface FreeLaneOptions {
  queues: TaskQueues;
  /** The `gpu: false` types that may start now (their `ramGb` is free). */
  startable(): Iterable<string>;
  /** Tasks in flight (claimed or running) at most when the next is of `type`: the threads, and the claims ahead that keep them fed, on that type's run times. */
  capacity(type: string): number;
  run(entry: QueueEntry): Promise<unknown>;
  /** Called after each task settles and the lane's count is updated. */
  settled(): void;
}

export class FreeLane {
  inFlight = 0;
  private stopped = false;

  constructor(private readonly options: FreeLaneOptions) {}

  /** A task of the lane settled (one callback for all: a closure and a `finally` per task cost more than the count). */
  private readonly settledOne = (): void => this.giveBack();

  /** Starts queued free-lane tasks while there is room. */
  pump(): void {
    const { queues } = this.options;
    while (!this.stopped) {
      const entry = this.next();
      // The next task in line waits for room by its own type's measure: no task of another type passes it.
      if (!entry || this.inFlight >= this.options.capacity(entry.type)) return;
      queues.take(entry);
      this.inFlight++;
      void this.options.run(entry).then(this.settledOne, this.settledOne);
    }
  }

  /**
   * Takes a thread for a task of `type` being submitted, when one is free and no free-lane task
   * is queued ahead of it: the submit then stores it as running at once (one commit, not two).
   * Returns false (nothing taken) otherwise. Pair with `adopt` or `giveBack`.
   */
  takeForSubmit(type: string, threads: number): boolean {
    if (this.stopped || this.inFlight >= threads || this.next() !== undefined) return false;
    if (![...this.options.startable()].includes(type)) return false;
    this.inFlight++;
    return true;
  }

  /** The task a `takeForSubmit` was for runs as `running`; the lane counts it until it settles. */
  adopt(running: Promise<unknown>): void {
    void running.then(this.settledOne, this.settledOne);
  }

  /** The thread a `takeForSubmit` took, or an adopted task's, is free again. */
  giveBack(): void {
    this.inFlight--;
    this.pump();
    this.options.settled();
  }

  /** No new starts; tasks in flight finish. */
  stop(): void {
    this.stopped = true;
  }

  private next(): QueueEntry | undefined {
    return this.options.queues.next(this.options.startable())?.entry;
  }
}
