/**
 * One task from start to outcome: mark it running (durably, before any handler side effect),
 * wait for a thread of its lane, run it in its type's pool, record the outcome durably, report.
 * It never rejects: every way a task can end becomes a terminal record. A batch or the free lane
 * calls it directly (no actor per task: XState's per-task cost stays off the hot path).
 */
import { ErrorCode } from '../errors.js';
import type { ClaimAhead } from '../dispatch/claim-ahead.js';
import type { Device } from '../gpu/detect.js';
import type { FinishFields, TaskState, TaskStore } from '../store/task-store.js';
import type { QueueEntry, TaskError, TaskRecord } from '../task.js';
import type { Pools } from '../threads/pools.js';
import type { RunMessage, WorkerReply } from '../threads/protocol.js';
import type { VramLedger } from '../threads/vram-ledger.js';
import { withChanges } from '../with-changes.js';
import type { StopReason, TaskControl, TaskControls } from './task-controls.js';

export interface TaskRunDeps {
  store: TaskStore;
  pools: Pools;
  ledger: VramLedger;
  controls: TaskControls;
  /** How far the task's lane claims ahead of its threads (its type's pool, or the free lane). */
  claimAhead(type: string): ClaimAhead;
  /** The task's time limit in ms (its own or its type's); 0 = none. */
  timeoutMs(entry: QueueEntry): number;
  started(record: TaskState): void;
  finished(record: TaskState): void;
  /** Tracks an outcome being committed: close() and drain() wait for it. */
  recorded(committing: Promise<void>): void;
  /** Whether a failed attempt is tried again (the scheduler requeues it after a backoff). */
  retry(record: TaskState, error: TaskError): boolean;
  /** A preempted task goes back to its place in line, with the state its handler saved. */
  preempted(record: TaskState, checkpoint: { state: unknown } | undefined): void;
  /** A store failure: the task cannot be recorded; the scheduler logs it. */
  broken(entry: QueueEntry, error: unknown): void;
}

export interface RunTaskInput {
  entry: QueueEntry;
  device: Device | undefined;
  /** The task's record when it was stored as running already (inserted and started in one commit). */
  claimed?: TaskRecord;
}

type Outcome = Pick<FinishFields, 'status' | 'value' | 'error'>;
/** A preempted run does not end the task: it is queued again. */
type Preempted = { preempted: { state: unknown } | undefined };

/** What a batch learns from a task's run, for its quantum: whether its worker answered (the model is loaded), and the load time when this run loaded it. */
export interface TaskRan {
  replied: boolean;
  loadMs?: number;
  /** How long the task ran in its thread, as the worker measured it (not its wait on the board). */
  runMs?: number;
  /** Its outcome being committed (settles once it is, and told): its batch ends only after. */
  recorded?: Promise<void>;
}

/**
 * Resolves as soon as the task's thread is free again (the worker replied), so its batch can
 * start the next task while the outcome is committed in the background (`deps.recorded`).
 *
 * The handler starts only once "running" is committed: claims of one turn share a commit, and
 * the claimed task then waits on its lane's board for a thread with a free seat (see LaneThreads).
 */
export async function executeTask(deps: TaskRunDeps, { entry, device, claimed }: RunTaskInput): Promise<TaskRan> {
  const control = deps.controls.begin(entry.id, entry.type, deps.timeoutMs(entry));
  const claimAhead = deps.claimAhead(entry.type);
  const ran: TaskRan = { replied: false };
  let outcome: Outcome | Preempted;
  try {
    let record: TaskRecord;
    if (claimed) record = claimed;
    else {
      const claimedAt = performance.now();
      try {
        record = await deps.store.markRunning(entry.id, {
          startedAt: Date.now(),
          ...(device ? { device: device.id } : {}),
        });
      } catch (error) {
        deps.broken(entry, error);
        return ran;
      }
      claimAhead.committed(performance.now() - claimedAt);
    }
    // Its lane's threads take it from the lane's board when one has a free seat, in claim order.
    deps.started(record);
    outcome = control.reason ? stopped(control.reason, deps.timeoutMs(entry), control) : await runInPool(deps, entry, device, record, control, ran);
    // Only a task that ran to its end tells how long tasks run: one that threw at once would make
    // the lane claim far ahead of tasks that take seconds.
    if (ran.runMs !== undefined && 'status' in outcome && outcome.status === 'succeeded') claimAhead.ran(ran.runMs);
    if ('preempted' in outcome) {
      deps.preempted(record, outcome.preempted);
      return ran;
    }
    if (outcome.error && RETRYABLE.has(outcome.error.code) && deps.retry(record, outcome.error)) return ran;
  } finally {
    deps.controls.end(entry.id);
  }
  ran.recorded = recordOutcome(deps.store, entry.id, outcome).then(deps.finished, (error: unknown) => deps.broken(entry, error));
  deps.recorded(ran.recorded);
  return ran;
}

async function runInPool(deps: TaskRunDeps, entry: QueueEntry, device: Device | undefined, record: TaskRecord, control: TaskControl, ran: TaskRan): Promise<Outcome | Preempted> {
  let reply: WorkerReply;
  try {
    const message: RunMessage = { op: 'run', taskId: entry.id, seq: entry.seq, type: entry.type, payload: record.payload };
    if (device) message.device = { id: device.id, index: device.index };
    if (record.checkpoint !== undefined) message.resumeFrom = record.checkpoint;
    reply = await deps.pools.run(message, control);
    ran.replied = true;
    if (reply.loadMs !== undefined) ran.loadMs = reply.loadMs;
    if (reply.runMs !== undefined) ran.runMs = reply.runMs;
  } catch (error) {
    // The thread died or was terminated (or the task was withdrawn from its lane's board before a
    // thread took it: it then ends as its stop says, below): return whatever the task grew beyond
    // its batch's lease (a live worker does it itself).
    deps.ledger.releaseTagged(entry.seq);
    reply = { ok: false, error: { code: ErrorCode.WORKER_CRASHED, message: crashMessage(error) } };
  }
  // A preempted task that finished anyway keeps its result; one that stopped goes back in line.
  if (control.reason === 'preempted') return reply.ok ? { status: 'succeeded', value: reply.value } : { preempted: reply.checkpoint ?? control.checkpoint };
  // A task asked to stop ends as stopped, whatever its handler did after the request.
  if (control.reason) return stopped(control.reason, deps.timeoutMs(entry), control);
  return reply.ok ? { status: 'succeeded', value: reply.value } : { status: 'failed', error: reply.error };
}

/** Failures worth another attempt: the handler's own error, or its thread dying. */
const RETRYABLE = new Set<string>([ErrorCode.HANDLER_ERROR, ErrorCode.WORKER_CRASHED]);

function stopped(reason: StopReason, timeoutMs: number, control: TaskControl): Outcome | Preempted {
  if (reason === 'preempted') return { preempted: control.checkpoint };
  return reason === 'timeout'
    ? { status: 'failed', error: { code: ErrorCode.TIMEOUT, message: `the task ran longer than its time limit (${timeoutMs} ms)` } }
    : { status: 'cancelled', error: { code: ErrorCode.CANCELLED, message: 'cancelled while running' } };
}

/** A result the store cannot encode (a class instance, a symbol) fails the task instead of leaving it running. */
async function recordOutcome(store: TaskStore, id: string, outcome: Outcome): Promise<TaskState> {
  const finishedAt = Date.now();
  try {
    return await store.finish(id, withChanges(outcome, { finishedAt }));
  } catch (error) {
    if (outcome.status !== 'succeeded') throw error;
    const message = `the handler's result could not be stored: ${error instanceof Error ? error.message : String(error)}`;
    return store.finish(id, { status: 'failed', error: { code: ErrorCode.HANDLER_ERROR, message }, finishedAt });
  }
}

function crashMessage(error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `the worker thread died while running this task (${reason})`;
}
