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

/** One task, as a thread takes it from its pool's board. */
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

/**
 * A thread's one long Piscina task, for as long as the thread lives: it takes claimed tasks from
 * its pool's board (see LaneBoard), as they are posted on the lane's BroadcastChannel, into its
 * board seats `firstSeat` … `firstSeat + seats - 1` (one task each).
 */
export interface ServeMessage {
  firstSeat: number;
  seats: number;
  /** Seats on the board, all threads together. */
  lanes: number;
  board: SharedArrayBuffer;
  channel: string;
  /** Tests only: a task that ran shorter than this (ms) counts as quick (default QUICK_MS in lane-serve.ts). */
  quickMs?: number;
}

/** Main → a GPU type's threads, on the lane's channel: the batch is over; each thread runs the handler's `unload()`, forgets the model and reports `unloaded` with this id. */
export interface LaneUnload {
  unload: string;
  id: number;
}

/**
 * Main → a pool's threads, on the lane's channel: tasks published on the board at `first`,
 * `first + 1`, …, serialized one after another into `bytes`; task k ends at `ends[k]` (see lane-tasks.ts).
 */
export interface LaneTasks {
  first: number;
  bytes: SharedArrayBuffer;
  ends: number[];
}

/**
 * A pool's thread (named by its first seat) → main, through Piscina's 'message': it listens now
 * (`ready`), it has unloaded its model (`unloaded`, see LaneUnload), or the replies of tasks it
 * finished, each with its board index.
 */
export type LaneReport =
  | { vramSchedulerLane: 'ready'; firstSeat: number }
  | { vramSchedulerLane: 'unloaded'; firstSeat: number; id: number }
  | { vramSchedulerLane: 'replies'; replies: LaneReply[] };

export interface LaneReply {
  index: number;
  reply: WorkerReply;
}

export function isLaneReport(message: unknown): message is LaneReport {
  return typeof message === 'object' && message !== null && 'vramSchedulerLane' in message;
}

/**
 * `checkpoint`: the state the handler saved with ctx.checkpoint() during this run, if any.
 * `loadMs`: how long the type's model took to load in this thread, on the first reply after the load (for the quantum).
 * `runMs`: how long the task ran in its thread (not counting its wait on the board).
 */
export type WorkerReply = ({ ok: true; value: unknown } | { ok: false; error: TaskError }) & { checkpoint?: { state: unknown }; loadMs?: number; runMs?: number };
