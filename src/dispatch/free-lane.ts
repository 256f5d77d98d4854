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
  /** Tasks in flight (claimed or running) at most: the threads, and the claims ahead that keep them fed. */
  capacity(): number;
  run(entry: QueueEntry): Promise<void>;
  /** Called after each task settles and the lane's count is updated. */
  settled(): void;
}

export class FreeLane {
  inFlight = 0;
  private stopped = false;

  constructor(private readonly options: FreeLaneOptions) {}

  /** Starts queued free-lane tasks while there is room. */
  pump(): void {
    const { queues } = this.options;
    const capacity = this.options.capacity();
    while (!this.stopped && this.inFlight < capacity) {
      const entry = this.next();
      if (!entry) return;
      queues.take(entry);
      this.inFlight++;
      void this.options.run(entry).finally(() => {
        this.inFlight--;
        this.pump();
        this.options.settled();
      });
    }
  }

  /** No new starts; tasks in flight finish. */
  stop(): void {
    this.stopped = true;
  }

  private next(): QueueEntry | undefined {
    return this.options.queues.next(this.options.startable())?.entry;
  }
}
