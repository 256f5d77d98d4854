/**
 * One task from start to outcome: mark it running (durably, before any handler side effect),
 * run it in its type's pool, record the outcome durably, report. It never rejects: every way a
 * task can end becomes a terminal record.
 */
import { fromPromise } from 'xstate';
import { ErrorCode } from '../errors.js';
import type { Device } from '../gpu/detect.js';
import type { TaskStore } from '../store/task-store.js';
import type { QueueEntry, TaskRecord } from '../task.js';
import type { Pools } from '../threads/pools.js';
import type { WorkerReply } from '../threads/protocol.js';
import type { VramLedger } from '../threads/vram-ledger.js';

export interface TaskRunDeps {
  store: TaskStore;
  pools: Pools;
  ledger: VramLedger;
  started(record: TaskRecord): void;
  finished(record: TaskRecord): void;
  /** Tracks an outcome being committed: close() and drain() wait for it. */
  recorded(committing: Promise<void>): void;
  /** A store failure: the task cannot be recorded; the scheduler logs it. */
  broken(entry: QueueEntry, error: unknown): void;
}

export interface RunTaskInput {
  entry: QueueEntry;
  device: Device | undefined;
}

/**
 * Resolves as soon as the task's thread is free again (the worker replied), so its batch can
 * start the next task while the outcome is committed in the background (`deps.recorded`).
 */
export async function executeTask(deps: TaskRunDeps, { entry, device }: RunTaskInput): Promise<void> {
  let record: TaskRecord;
  try {
    record = await deps.store.markRunning(entry.id, {
      startedAt: Date.now(),
      ...(device ? { device: device.id } : {}),
    });
  } catch (error) {
    deps.broken(entry, error);
    return;
  }
  deps.started(record);
  let reply: WorkerReply;
  try {
    reply = await deps.pools.run({
      op: 'run',
      taskId: entry.id,
      seq: entry.seq,
      type: entry.type,
      payload: record.payload,
      ...(device ? { device: { id: device.id, index: device.index } } : {}),
    });
  } catch (error) {
    // The thread died: return whatever the task grew beyond its batch's lease (a live worker does it itself).
    deps.ledger.releaseTagged(entry.seq);
    reply = { ok: false, error: { code: ErrorCode.WORKER_CRASHED, message: crashMessage(error) } };
  }
  deps.recorded(recordOutcome(deps.store, entry.id, reply).then(deps.finished, (error: unknown) => deps.broken(entry, error)));
}

/** A result the store cannot encode (a class instance, a symbol) fails the task instead of leaving it running. */
async function recordOutcome(store: TaskStore, id: string, reply: WorkerReply): Promise<TaskRecord> {
  const finishedAt = Date.now();
  if (!reply.ok) return store.finish(id, { status: 'failed', error: reply.error, finishedAt });
  try {
    return await store.finish(id, { status: 'succeeded', value: reply.value, finishedAt });
  } catch (error) {
    const message = `the handler's result could not be stored: ${error instanceof Error ? error.message : String(error)}`;
    return store.finish(id, { status: 'failed', error: { code: ErrorCode.HANDLER_ERROR, message }, finishedAt });
  }
}

/** The actor a batch spawns per task. */
export function createRunTask(deps: TaskRunDeps) {
  return fromPromise<void, RunTaskInput>(({ input }) => executeTask(deps, input));
}

function crashMessage(error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `the worker thread died while running this task (${reason})`;
}
