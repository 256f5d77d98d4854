/** The shapes of a task as a user sees it: priorities, statuses, records and results. */

/** Lowest to highest. FIFO within a priority. */
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Queue order rank: 0 is served first. Used in the store's ordered index. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { critical: 0, high: 1, normal: 2, low: 3 };

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type TerminalStatus = Extract<TaskStatus, 'succeeded' | 'failed' | 'cancelled'>;

/** Why a task failed: `code` is stable (see ErrorCode), `message` is for people. */
export interface TaskError {
  code: string;
  message: string;
}

/** A task as stored: everything known about it at this moment. */
export interface TaskRecord<P = unknown, R = unknown> {
  id: string;
  type: string;
  /** Acknowledgement order, monotonic across restarts. */
  seq: number;
  priority: Priority;
  payload: P;
  status: TaskStatus;
  /** Epoch milliseconds. */
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  value?: R;
  error?: TaskError;
  /** Id of the device the task ran on (GPU types only). */
  device?: string;
  /** Per-task VRAM override in GB, when the submit gave one. */
  vramGb?: number;
  /** Deduplication key, when the submit gave one. */
  key?: string;
  /** Per-task time limit in ms, when the submit gave one. */
  timeoutMs?: number;
  /** How many times the task has been started (retries and idempotent restarts count). */
  attempts?: number;
  /** Why the previous attempt did not succeed, when the task was queued again. */
  lastError?: TaskError;
  /** Times a higher-priority task preempted it (these do not count as attempts). */
  preemptions?: number;
  /** What its handler saved with `ctx.checkpoint()` when preempted; handed back as `ctx.resumeFrom`. */
  checkpoint?: unknown;
  /** The last `ctx.progress()` report while it runs (not stored: `get()` adds it). */
  progress?: { value: number; info?: unknown };
}

/** What `wait()` and `result()` return once a task has ended. */
export interface TaskResult<R = unknown> {
  id: string;
  type: string;
  status: TerminalStatus;
  value?: R;
  error?: TaskError;
  queuedAt: number;
  startedAt?: number;
  finishedAt: number;
  device?: string;
}

/** What a queue holds for a task: ids and the few facts dispatch needs, never the payload. */
export interface QueueEntry {
  id: string;
  type: string;
  seq: number;
  priority: Priority;
  queuedAt: number;
  /** VRAM this task needs in MiB when it overrides its type's budget; 0 = the type's budget. */
  vramMiB: number;
  key?: string;
  /** Per-task time limit in ms, overriding its type's. */
  timeoutMs?: number;
}

export function isTerminal(status: TaskStatus): status is TerminalStatus {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

export function toResult<R>(record: Omit<TaskRecord<unknown, R>, 'payload'>): TaskResult<R> | undefined {
  if (!isTerminal(record.status)) return undefined;
  const result: TaskResult<R> = {
    id: record.id,
    type: record.type,
    status: record.status,
    queuedAt: record.queuedAt,
    finishedAt: record.finishedAt ?? record.queuedAt,
  };
  if (record.value !== undefined) result.value = record.value;
  if (record.error !== undefined) result.error = record.error;
  if (record.startedAt !== undefined) result.startedAt = record.startedAt;
  if (record.device !== undefined) result.device = record.device;
  return result;
}
