/**
 * What the scheduler records and tells when a task moves: its progress while it runs, its
 * start, and its end (listeners, waiters, run times, the freed dedup key, retention).
 */
import type { Logger } from 'pino';
import type { TaskControls } from '../actors/task-controls.js';
import type { Admission } from '../admission.js';
import { ErrorCode } from '../errors.js';
import type { RunTimes } from '../position.js';
import type { Retention } from '../store/retention.js';
import type { TaskState, TaskStore } from '../store/task-store.js';
import { toResult, type TaskRecord } from '../task.js';
import type { ResultWaiters } from '../waiters.js';
import type { SignalLinks } from './ending.js';
import type { Notify } from './notify.js';

export interface OutcomeDeps {
  store: TaskStore;
  controls: TaskControls;
  admission: Admission;
  runTimes: RunTimes;
  waiters: ResultWaiters;
  retention: Retention;
  signals: SignalLinks;
  notify: Notify;
  logger: Logger;
}

export type TaskProgress = { value: number; info?: unknown };

export class Outcomes {
  /** Last ctx.progress() report per running task. */
  private readonly progress = new Map<string, TaskProgress>();

  constructor(private readonly deps: OutcomeDeps) {}

  /** The running task's last progress report, if it made one. */
  progressOf(id: string): TaskProgress | undefined {
    return this.progress.get(id);
  }

  /** A handler's ctx.progress(), already throttled in its thread. Late reports of an ended task are dropped. */
  progressed(id: string, value: number, info: unknown): void {
    const record = this.deps.controls.isRunning(id) ? this.deps.store.getState(id) : undefined;
    if (record === undefined) return;
    const progress = info === undefined ? { value } : { value, info };
    this.progress.set(id, progress);
    this.deps.notify('task:progress', { id, type: record.type, ...progress });
  }

  started(record: TaskState): void {
    this.deps.notify('task:started', {
      id: record.id,
      type: record.type,
      startedAt: record.startedAt!,
      ...(record.device === undefined ? {} : { device: record.device }),
    });
  }

  finished(record: TaskState): void {
    const { admission, signals, runTimes, notify, waiters, retention } = this.deps;
    this.progress.delete(record.id);
    admission.forget(record.type, record.key);
    signals.unlink(record.id);
    const result = toResult(record)!;
    if (result.startedAt !== undefined) runTimes.record(record.type, result.finishedAt - result.startedAt);
    notify(`task:${result.status}`, result);
    waiters.settle(result);
    retention.poke();
  }

  /** The store refused a task's state change (disk full, store closed): fail it in memory so no caller waits forever; a restart sees its stored state. */
  broken(entry: Pick<TaskRecord, 'id' | 'type' | 'queuedAt' | 'key'>, error: unknown): void {
    this.deps.logger.error({ id: entry.id, err: error }, 'task state could not be stored');
    this.deps.admission.forget(entry.type, entry.key);
    const message = `the task's state could not be stored: ${error instanceof Error ? error.message : String(error)}`;
    const now = Date.now();
    this.deps.waiters.settle({ id: entry.id, type: entry.type, status: 'failed', error: { code: ErrorCode.STORE_ERROR, message }, queuedAt: entry.queuedAt, finishedAt: now });
  }
}
