/** The events a scheduler emits, typed by name and payload (`scheduler.on(name, listener)`). */
import type { BatchEndReason } from './machines/batch.js';
import type { Priority, TaskError, TaskResult } from './task.js';

export interface SchedulerEvents {
  /** A task was durably acknowledged and queued. */
  'task:queued': (event: { id: string; type: string; priority: Priority; seq: number }) => void;
  /**
   * A task was durably marked running and posted to its lane's threads (the free lane's, or its
   * GPU type's one thread), where short tasks claimed ahead wait a few ms for a free seat.
   */
  'task:started': (event: { id: string; type: string; device?: string; startedAt: number }) => void;
  /** A running task's handler called `ctx.progress()` (throttled: at most one per 100 ms per task). */
  'task:progress': (event: { id: string; type: string; value: number; info?: unknown }) => void;
  /** A task ended well; its result is durable. */
  'task:succeeded': (result: TaskResult) => void;
  /** A task ended in failure (`result.error.code` says why); its result is durable. */
  'task:failed': (result: TaskResult) => void;
  /** A task failed with attempts left (its type's `retries`): it is queued again and starts after `delayMs`. */
  'task:retrying': (event: { id: string; type: string; attempts: number; delayMs: number; error: TaskError }) => void;
  /** A higher-priority task preempted it: it is queued again at the head of its line (`checkpointed`: its handler saved state for `ctx.resumeFrom`). */
  'task:preempted': (event: { id: string; type: string; checkpointed: boolean }) => void;
  /** A task was cancelled (by `cancel()`, `clear()` or its submit's AbortSignal); durable. */
  'task:cancelled': (result: TaskResult) => void;
  /** A batch reserved VRAM on a device and started taking its type's tasks. */
  'batch:started': (event: { type: string; device: string; vramGb: number }) => void;
  /** A batch ended (`reason`: its queue ran dry, an override could not grow, its quantum ran out while another type waited, it was evicted or preempted, or close()), unloaded its model and returned its VRAM. */
  'batch:ended': (event: { type: string; device: string; tasks: number; reason: BatchEndReason }) => void;
  /** `close()` finished: threads stopped, store closed. */
  closed: () => void;
}

export type SchedulerEventName = keyof SchedulerEvents;
