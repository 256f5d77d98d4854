/** The messages between the main thread and a worker thread, and what a worker answers. */
import type { TaskDevice } from './handler.js';
import type { TaskError } from '../task.js';

/** Handed to every worker once, in `workerData`: the buffer is shared, not copied. */
export interface WorkerSetup {
  /** Type name → handler module URL. Only these modules are ever imported: a task names a type, never code. */
  handlers: Record<string, string>;
  ledger: SharedArrayBuffer;
  logLevel: string;
  serviceName: string;
  /** BroadcastChannel name carrying ControlMessages: aborts for `ctx.signal`, checkpoints back. */
  abortChannel: string;
}

export interface RunMessage {
  op: 'run';
  taskId: string;
  /** The task's acknowledgement number; tags the VRAM the task grows so a crash can return it. */
  seq: number;
  type: string;
  payload: unknown;
  device?: TaskDevice;
  /** The state a preempted run saved, for `ctx.resumeFrom`. */
  resumeFrom?: unknown;
}

/** The batch is over: run the handler's `unload()` and forget the model. */
export interface UnloadMessage {
  op: 'unload';
  type: string;
}

export type WorkerMessage = RunMessage | UnloadMessage;

/**
 * `checkpoint`: the state the handler saved with ctx.checkpoint() during this run, if any.
 * `loadMs`: how long the type's model took to load in this thread, on the first reply after the load (for the quantum).
 */
export type WorkerReply = ({ ok: true; value: unknown } | { ok: false; error: TaskError }) & { checkpoint?: { state: unknown }; loadMs?: number };
