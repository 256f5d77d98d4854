/**
 * Tasks that go back in line after an attempt: a failure with attempts left (after its
 * backoff) and a preempted task (at once, at the head of its line, with its checkpoint).
 * Each is queued again durably first; then the in-memory queue gets it and the scheduler wakes.
 */
import type { ResolvedConfig } from '../config.js';
import type { Backoffs } from '../dispatch/backoffs.js';
import type { TaskQueues } from '../dispatch/queues.js';
import { queueEntryOf } from '../store/layout.js';
import type { TaskState, TaskStore } from '../store/task-store.js';
import type { TaskError } from '../task.js';
import type { Notify } from './notify.js';

export interface RequeueDeps {
  config: ResolvedConfig;
  store: TaskStore;
  queues: TaskQueues;
  backoffs: Backoffs;
  /** Whether the scheduler is closing: no more retries then. */
  closing(): boolean;
  wake(): void;
  notify: Notify;
  /** Tracks a state change being committed: drain() and close() wait for it. */
  track(committing: Promise<void>): void;
  broken(entry: TaskState, error: unknown): void;
}

export class Requeues {
  constructor(private readonly deps: RequeueDeps) {}

  /** A failed attempt with attempts left: queued again durably now, back in line after the backoff. */
  retryLater(record: TaskState, error: TaskError): boolean {
    const { config, store, backoffs, queues } = this.deps;
    const type = config.types.get(record.type)!;
    const attempts = record.attempts ?? 1;
    if (attempts > type.retries || this.deps.closing()) return false;
    const delayMs = type.retryBackoffMs * 2 ** (attempts - 1);
    config.logger.warn({ id: record.id, type: record.type, attempts, delayMs, error }, 'task failed: trying again');
    const requeued = store.requeue(record.id, { lastError: error }).then((entry) => {
      backoffs.wait(entry.id, delayMs, () => {
        queues.push(entry);
        this.deps.wake();
      });
      this.deps.notify('task:retrying', { id: record.id, type: record.type, attempts, delayMs, error });
    });
    this.deps.track(requeued.catch((e: unknown) => this.deps.broken(record, e)));
    return true;
  }

  /**
   * A preempted task goes back to the head of its line at once, with its handler's checkpoint.
   * It is in the in-memory queue before its batch can end (not after the commit): otherwise a
   * later task of its type and priority could start first. The next start's write follows the
   * requeue's in the store, so it cannot commit before it.
   */
  preempted(record: TaskState, checkpoint: { state: unknown } | undefined): void {
    const { store, queues } = this.deps;
    const requeued = store.requeue(record.id, { preempted: { checkpoint } });
    const entry = queueEntryOf(record);
    queues.pushFront(entry);
    this.deps.wake();
    const announced = requeued.then(
      () => this.deps.notify('task:preempted', { id: record.id, type: record.type, checkpointed: checkpoint !== undefined }),
      (error: unknown) => {
        // Rare: take it back out of line unless a batch has taken it already (its start then fails too).
        if ([...queues.entries(record.type)].some((queued) => queued.id === record.id)) queues.remove(entry);
        this.deps.broken(record, error);
      },
    );
    this.deps.track(announced);
  }
}
