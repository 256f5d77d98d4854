/**
 * How the task store lays tasks out in LMDB: the keys of its indexes, how values are encoded, how a
 * write is made durable, and the one-time upgrades that bring a store written by an earlier version
 * to this layout.
 */
import type { Database, RootDatabase } from 'lmdb';
import { PRIORITY_RANK, isTerminal, type QueueEntry, type TaskRecord } from '../task.js';
import { gbToMiB } from '../units.js';
import type { TaskState } from './task-store.js';

/** `[type, priority rank, seq]`: array keys sort element by element, so one range read yields dispatch order. */
export type QueueKey = [string, number, number];
export const queueKey = (r: TaskState): QueueKey => [r.type, PRIORITY_RANK[r.priority], r.seq];

/** `[finishedAt, id]`: the finished index, oldest first, read by retention pruning. */
export type FinishedKey = [number, string];

/** The queue index value of a record (the index entry itself is dropped while a task runs). */
export function queueEntryOf(r: TaskState): QueueEntry {
  const entry: QueueEntry = { id: r.id, type: r.type, seq: r.seq, priority: r.priority, queuedAt: r.queuedAt, vramMiB: r.vramGb === undefined ? 0 : gbToMiB(r.vramGb) };
  if (r.key !== undefined) entry.key = r.key;
  if (r.timeoutMs !== undefined) entry.timeoutMs = r.timeoutMs;
  return entry;
}

/**
 * Record shapes (key lists) are stored once in the database, not in every value: values are a
 * third the size and decode about 3× faster. Values written without it still decode.
 * `moreTypes`: payloads, results and checkpoints come back as structured clone would give them
 * (typed arrays, Sets, Errors, large BigInts). Without it msgpack wrote a Float32Array's elements
 * as bytes (garbage read back as a Buffer) and a Set as an array.
 */
export const SHARED_STRUCTURES = { sharedStructuresKey: Symbol.for('structures'), encoder: { moreTypes: true } };

/** Writes resolve at commit and carry their flush as `.flushed` (see `flushed`). */
export const DURABLE_WRITES = { separateFlushed: true } as const;

/**
 * Resolves once a write's transaction is on disk, not only committed: a commit survives the
 * process dying, only a flush survives the machine losing power. Rejects as the write does.
 * The writes of one event-loop turn share one promise (one transaction): the last one's wait is
 * reused, not built again for each write of the turn.
 */
export function flushed(write: Promise<boolean>): Promise<boolean> {
  if (write === lastWrite) return lastFlushed!;
  const flush = (write as Promise<boolean> & { flushed?: Promise<unknown> }).flushed;
  lastWrite = write;
  return (lastFlushed = flush === undefined ? write : write.then((ok) => flush.then(() => ok)));
}
let lastWrite: Promise<boolean> | undefined;
let lastFlushed: Promise<boolean> | undefined;

/** Stores written before the finished index existed get it built once, in one transaction. */
export function indexFinished(root: RootDatabase, tasks: Database<TaskState, string>, meta: Database<number, string>): void {
  if (meta.get('finishedIndex') === 1) return;
  const finished = root.openDB<true, FinishedKey>('finished', {});
  root.transactionSync(() => {
    for (const { key, value } of tasks.getRange()) {
      if (isTerminal(value.status)) finished.put([value.finishedAt ?? 0, key], true);
    }
    meta.put('finishedIndex', 1);
  });
}

/** Stores written before payloads were kept apart get them moved out of their records once, in one transaction. */
export function separatePayloads(root: RootDatabase, tasks: Database<TaskState, string>, meta: Database<number, string>): void {
  if (meta.get('payloadsApart') === 1) return;
  const payloads = root.openDB<unknown, string>('payloads', SHARED_STRUCTURES);
  root.transactionSync(() => {
    for (const { key, value } of tasks.getRange()) {
      if (!('payload' in value)) continue;
      const { payload, ...state } = value as TaskRecord;
      payloads.put(key, payload);
      tasks.put(key, state);
    }
    meta.put('payloadsApart', 1);
  });
}
