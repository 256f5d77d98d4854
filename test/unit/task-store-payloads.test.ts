/** Payloads are stored apart from task states: written once at insert, read back by get(), deleted with their record. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TaskStore } from '../../src/store/task-store.js';
import type { QueueEntry, TaskRecord } from '../../src/task.js';

let dir: string;
beforeEach(() => {
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vs-payloads-')), 'data');
});
afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

function task(seq: number, payload: unknown): [TaskRecord, QueueEntry] {
  const id = `t${seq}`;
  return [
    { id, type: 'llm', seq, priority: 'normal', payload, status: 'queued', queuedAt: seq },
    { id, type: 'llm', seq, priority: 'normal', queuedAt: seq, vramMiB: 0 },
  ];
}

/** What this store's raw databases hold under `id`. */
async function raw(id: string): Promise<{ state: Record<string, unknown> | undefined; payload: unknown; hasPayload: boolean }> {
  const root = open({ path: dir, maxDbs: 8 });
  const tasks = root.openDB<Record<string, unknown>, string>({ name: 'tasks', sharedStructuresKey: Symbol.for('structures') });
  const payloads = root.openDB<unknown, string>({ name: 'payloads', sharedStructuresKey: Symbol.for('structures') });
  const found = { state: tasks.get(id), payload: payloads.get(id), hasPayload: payloads.doesExist(id) };
  await root.close();
  return found;
}

/**
 * Writes `old` as an older version of the store did: the payload inside the task record, no
 * shared structures, no payloads database. `indexes`: the (empty) index databases it already had.
 */
async function writeOlderStore(old: TaskRecord, entry: QueueEntry, indexes: ('running' | 'finished')[]): Promise<void> {
  const root = open({ path: dir, maxDbs: 8 });
  await root.openDB({ name: 'tasks' }).put(old.id, old);
  await root.openDB({ name: 'queue' }).put([old.type, 2, old.seq], entry);
  await root.openDB({ name: 'meta' }).put('seq', 1);
  for (const name of indexes) await root.openDB({ name }).put('x', true).then(() => root.openDB({ name }).remove('x'));
  await root.close();
}

it('keeps the payload out of the state record, and get() and markRunning() put it back', async () => {
  const store = TaskStore.open({ dir });
  const payload = { prompt: 'x'.repeat(1000), n: [1, 2, 3] };
  const [record, entry] = task(1, payload);
  await store.insert(record, entry);
  expect((await store.markRunning('t1', { startedAt: 5 })).payload).toEqual(payload);
  const finished = await store.finish('t1', { status: 'succeeded', value: 'ok', finishedAt: 6 });
  expect(finished).not.toHaveProperty('payload');
  expect(store.get('t1')).toEqual({ ...finished, payload });
  expect(store.getCommitted('t1')).toEqual({ ...finished, payload });
  await store.close();
  const stored = await raw('t1');
  expect(stored.state).toMatchObject({ status: 'succeeded', value: 'ok' });
  expect(stored.state).not.toHaveProperty('payload');
  expect(stored.payload).toEqual(payload);
});

it('moves the payloads of an older store out of its records once; a read-only open before that still sees them', async () => {
  const [old, entry] = task(1, { prompt: 'from before' });
  await writeOlderStore(old, entry, ['running', 'finished']);

  const reader = TaskStore.openReadOnly({ dir });
  expect(reader.getCommitted('t1')).toEqual(old);
  await reader.close();

  const store = TaskStore.open({ dir });
  expect(store.get('t1')).toEqual(old);
  const { queued } = await store.recover(10);
  expect(queued.map((e) => e.id)).toEqual(['t1']);
  expect((await store.markRunning('t1', { startedAt: 11 })).payload).toEqual({ prompt: 'from before' });
  await store.close();
  const stored = await raw('t1');
  expect(stored.state).not.toHaveProperty('payload');
  expect(stored.payload).toEqual({ prompt: 'from before' });

  const again = TaskStore.openReadOnly({ dir });
  expect(again.getCommitted('t1')).toMatchObject({ status: 'running', payload: { prompt: 'from before' } });
  await again.close();
});

it('prune deletes a record and its payload together', async () => {
  const store = TaskStore.open({ dir });
  for (const seq of [1, 2]) {
    const [record, entry] = task(seq, { seq });
    await store.insert(record, entry);
    await store.finish(record.id, { status: 'cancelled', finishedAt: seq });
  }
  expect(await store.prune({ endedBefore: 2, keep: Infinity, limit: 10 })).toBe(1);
  await store.close();
  expect(await raw('t1')).toEqual({ state: undefined, payload: undefined, hasPayload: false });
  expect(await raw('t2')).toMatchObject({ payload: { seq: 2 }, hasPayload: true });
});

it('a read-only open of a store older than the finished index still reads it', async () => {
  const [old, entry] = task(1, { prompt: 'from before' });
  await writeOlderStore(old, entry, []);
  const reader = TaskStore.openReadOnly({ dir });
  expect(reader.getCommitted('t1')).toEqual(old);
  await reader.close();
});

it('gives back payloads and results of every structured-cloneable kind as structured clone does, also after a restart', async () => {
  const kinds = {
    floats: new Float32Array([1.5, -2, 3]),
    ints: new Int32Array([7, -1]),
    bytes: new Uint8Array([1, 2, 3]),
    set: new Set(['a', 'b']),
    map: new Map([['k', 1]]),
    at: new Date(5),
    big: 2n ** 70n,
    sparse: [1, , 3],
  };
  let store = TaskStore.open({ dir });
  const [record, entry] = task(1, kinds);
  await store.insert(record, entry);
  await store.markRunning('t1', { startedAt: 5 });
  await store.finish('t1', { status: 'succeeded', value: kinds, finishedAt: 6 });
  await store.close();
  store = TaskStore.open({ dir });
  const back = store.getCommitted('t1')!;
  await store.close();
  const cloned = structuredClone(kinds);
  expect(back.payload).toEqual(cloned);
  expect(back.value).toEqual(cloned);
  expect((back.payload as typeof kinds).floats).toBeInstanceOf(Float32Array);
});
