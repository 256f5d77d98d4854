/**
 * Ending tasks that have not started: cancelled (cancel, clear, a submit's AbortSignal) or
 * failed for waiting too long (the 'queue' policy's maxWaitMs). Out of the queue, terminal in
 * the store, then reported like any other end.
 */
import type { ResolvedConfig } from '../config.js';
import type { Backoffs } from '../dispatch/backoffs.js';
import type { TaskQueues } from '../dispatch/queues.js';
import { ErrorCode } from '../errors.js';
import { overdue } from '../policy.js';
import type { TaskState, TaskStore } from '../store/task-store.js';
import type { QueueEntry, TaskError } from '../task.js';

type QueuedTask = Pick<QueueEntry, 'id' | 'type' | 'priority'>;

/** A submit's AbortSignal cancels its task; its listener is detached once the task has ended. */
export class SignalLinks {
  private readonly cleanups = new Map<string, () => void>();

  constructor(private readonly cancel: (id: string) => Promise<boolean>) {}

  link(id: string, signal: AbortSignal): void {
    const onAbort = () => void this.cancel(id).catch(() => undefined);
    // Aborted while its submit was being written: no 'abort' event comes any more.
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.cleanups.set(id, () => signal.removeEventListener('abort', onAbort));
  }

  /** The task ended: its signal no longer matters. */
  unlink(id: string): void {
    this.cleanups.get(id)?.();
    this.cleanups.delete(id);
  }
}

export interface QueuedEndDeps {
  config: ResolvedConfig;
  store: TaskStore;
  queues: TaskQueues;
  backoffs: Backoffs;
  finished(record: TaskState): void;
  checkIdle(): void;
  /** Tracks a state change being committed: drain() and close() wait for it. */
  track(committing: Promise<void>): void;
  broken(entry: QueueEntry, error: unknown): void;
}

export class QueuedEnds {
  private expiry: NodeJS.Timeout | undefined;

  constructor(private readonly deps: QueuedEndDeps) {}

  cancel(task: QueuedTask): Promise<void> {
    return this.end(task, 'cancelled', { code: ErrorCode.CANCELLED, message: 'cancelled while queued' });
  }

  /** With the 'queue' policy and a maxWaitMs, checks now and then for tasks that waited too long. */
  startExpiry(): void {
    const { policy, maxWaitMs } = this.deps.config.scheduling;
    if (policy === 'queue' && maxWaitMs > 0) {
      this.expiry = setInterval(() => this.expireWaiting(), Math.min(1000, Math.max(10, maxWaitMs / 2)));
      this.expiry.unref();
    }
  }

  stopExpiry(): void {
    clearInterval(this.expiry);
  }

  /** The 'queue' policy's maxWaitMs: tasks queued longer fail with WAIT_TIMEOUT. */
  private expireWaiting(): void {
    const { config, queues } = this.deps;
    const { maxWaitMs } = config.scheduling;
    const message = `the task waited longer than maxWaitMs (${maxWaitMs} ms) without starting`;
    for (const entry of overdue(queues, config.types.keys(), maxWaitMs, Date.now())) {
      this.deps.track(this.end(entry, 'failed', { code: ErrorCode.WAIT_TIMEOUT, message }).catch((e: unknown) => this.deps.broken(entry, e)));
    }
  }

  /** Ends a task that has not started: out of the queue, terminal in the store. */
  private async end(task: QueuedTask, status: 'cancelled' | 'failed', error: TaskError): Promise<void> {
    const { backoffs, config, queues, store } = this.deps;
    // In the in-memory queue unless it waits out a retry backoff, or its type is no longer configured.
    if (!backoffs.cancel(task.id) && config.types.has(task.type)) queues.remove(task);
    const done = await store.finish(task.id, { status, error, finishedAt: Date.now() });
    this.deps.finished(done);
    this.deps.checkIdle();
  }
}
