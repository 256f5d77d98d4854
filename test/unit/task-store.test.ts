import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskStore } from '../../src/store/task-store.js';
import type { Priority, QueueEntry, TaskRecord } from '../../src/task.js';

let tmp: string;
let stores: TaskStore[];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-store-'));
  stores = [];
});

afterEach(async () => {
  for (const store of stores) await store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function openStore(dir = path.join(tmp, 'data')): TaskStore {
  const store = TaskStore.open({ dir });
  stores.push(store);
  return store;
}

async function reopen(store: TaskStore): Promise<TaskStore> {
  await store.close();
  return openStore(store.dir);
}

let counter = 0;
function newTask(store: TaskStore, type = 'llm', priority: Priority = 'normal', payload: unknown = { prompt: 'hi' }): { record: TaskRecord; entry: QueueEntry } {
  const seq = store.nextSeq();
  const id = `task-${++counter}`;
  const record: TaskRecord = { id, type, seq, priority, payload, status: 'queued', queuedAt: 1000 + seq };
  const entry: QueueEntry = { id, type, seq, priority, queuedAt: record.queuedAt, vramMiB: 0 };
  return { record, entry };
}

async function insert(store: TaskStore, type?: string, priority?: Priority): Promise<TaskRecord> {
  const { record, entry } = newTask(store, type, priority);
  await store.insert(record, entry);
  return record;
}

function expectStoreError(fn: () => unknown, pathPart: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toMatchObject({ code: 'STORE_ERROR', name: 'StoreError' });
  expect((caught as Error).message).toContain(pathPart);
}

describe('TaskStore', () => {
  it('a committed read shows a queued task as stored until its next change commits, beyond the states kept in memory too', async () => {
    const store = openStore();
    // One commit: far more queued tasks than the store keeps in memory.
    const tasks = Array.from({ length: 5000 }, () => newTask(store));
    await Promise.all(tasks.map(({ record, entry }) => store.insert(record, entry)));
    for (const { record } of [tasks[0]!, tasks[2500]!, tasks[4999]!]) {
      const { payload: _, ...state } = record;
      expect(store.getCommittedState(record.id)).toEqual(state);
      expect(store.get(record.id)).toEqual(record);
    }
    const [started, cancelled] = [tasks[0]!.record, tasks[1]!.record];
    const starting = store.markRunning(started.id, { startedAt: 5 });
    const cancelling = store.finish(cancelled.id, { status: 'cancelled', finishedAt: 6 });
    // Written, not yet committed: a committed read still sees them queued; a read of this store's own writes does not.
    expect(store.getCommittedState(started.id)?.status).toBe('queued');
    expect(store.getCommittedState(cancelled.id)?.status).toBe('queued');
    expect(store.getState(started.id)?.status).toBe('running');
    await Promise.all([starting, cancelling]);
    expect(store.getCommittedState(started.id)).toMatchObject({ status: 'running', startedAt: 5, attempts: 1 });
    expect(store.getCommittedState(cancelled.id)).toMatchObject({ status: 'cancelled', finishedAt: 6 });
  });

  it('reads back an inserted task, before and after its commit', async () => {
    const store = openStore();
    const { record, entry } = newTask(store, 'llm', 'high', { prompt: 'hello', n: [1, 2] });
    const committed = store.insert(record, entry);
    expect(store.get(record.id)).toEqual(record);
    await committed;
    expect(store.get(record.id)).toEqual(record);
    expect(store.get('missing')).toBeUndefined();
    expect(store.counts()).toEqual({ queued: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
  });

  it('getCommitted shows a state change only once it is committed', async () => {
    const store = openStore();
    const { record, entry } = newTask(store, 'llm');
    const inserted = store.insert(record, entry);
    expect(store.getCommitted(record.id)).toBeUndefined();
    await inserted;
    expect(store.getCommitted(record.id)?.status).toBe('queued');
    const running = store.markRunning(record.id, { startedAt: 1 });
    expect(store.get(record.id)?.status).toBe('running');
    expect(store.getCommitted(record.id)?.status).toBe('queued');
    await running;
    const finished = store.finish(record.id, { status: 'succeeded', value: 42, finishedAt: 2 });
    expect(store.getCommitted(record.id)?.status).toBe('running');
    await finished;
    expect(store.getCommitted(record.id)).toMatchObject({ status: 'succeeded', value: 42 });
  });

  it('markRunning takes a task out of the queue that recovery returns', async () => {
    let store = openStore();
    const a = await insert(store);
    const b = await insert(store);
    const running = await store.markRunning(a.id, { startedAt: 5000, device: 'gpu0' });
    expect(running).toMatchObject({ id: a.id, status: 'running', startedAt: 5000, device: 'gpu0' });
    expect(store.get(a.id)).toEqual(running);
    store = await reopen(store);
    const { queued, interrupted } = await store.recover(9000);
    expect(queued.map((e) => e.id)).toEqual([b.id]);
    expect(interrupted).toEqual([a.id]);
  });

  it('insertRunning stores a new task as running in one commit: recovery reports it interrupted, never queued', async () => {
    let store = openStore();
    const { record, entry } = newTask(store);
    const running = await store.insertRunning(record, entry, { startedAt: 77 });
    expect(running).toEqual({ ...record, status: 'running', startedAt: 77, attempts: 1 });
    expect(store.getCommitted(record.id)).toEqual(running);
    const bad = newTask(store, 'llm', 'normal', { handle: Symbol('not encodable') });
    await expect(store.insertRunning(bad.record, bad.entry, { startedAt: 78 })).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
    store = await reopen(store);
    expect(store.get(bad.record.id)).toBeUndefined();
    expect(await store.recover(90)).toEqual({ queued: [], interrupted: [record.id] });
    expect(store.get(record.id)).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' }, payload: record.payload });
  });

  it('keeps a finished result readable after close and reopen', async () => {
    let store = openStore();
    const ok = await insert(store);
    const cancelled = await insert(store);
    await store.markRunning(ok.id, { startedAt: 2000 });
    const done = await store.finish(ok.id, { status: 'succeeded', value: { text: 'answer', tokens: 42 }, finishedAt: 3000 });
    expect(done).toMatchObject({ status: 'succeeded', value: { text: 'answer', tokens: 42 }, startedAt: 2000, finishedAt: 3000 });
    await store.finish(cancelled.id, { status: 'cancelled', finishedAt: 3500 });
    store = await reopen(store);
    expect(store.get(ok.id)).toEqual({ ...done, payload: ok.payload });
    expect(store.get(cancelled.id)).toMatchObject({ status: 'cancelled', finishedAt: 3500 });
    expect(await store.recover(4000)).toEqual({ queued: [], interrupted: [] });
    expect(store.get(ok.id)).toEqual({ ...done, payload: ok.payload });
  });

  it('recover fails running tasks as INTERRUPTED and returns the queue per type, by priority rank, then FIFO', async () => {
    let store = openStore();
    const order: Array<[string, Priority]> = [
      ['llm-b', 'low'], ['llm-a', 'normal'], ['llm-b', 'critical'], ['llm-a', 'high'],
      ['llm-a', 'normal'], ['llm-b', 'low'], ['llm-a', 'high'], ['llm-a', 'low'],
    ];
    const records = [];
    for (const [type, priority] of order) records.push(await insert(store, type, priority));
    const crashed = await insert(store, 'llm-a', 'critical');
    await store.markRunning(crashed.id, { startedAt: 100, device: 'gpu1' });
    store = await reopen(store);
    const { queued, interrupted } = await store.recover(7777);
    const [b0, a1, b2, a3, a4, b5, a6, a7] = records.map((r) => r.id);
    expect(queued.map((e) => e.id)).toEqual([a3, a6, a1, a4, a7, b2, b0, b5]);
    expect(queued[0]).toEqual({ id: a3, type: 'llm-a', seq: records[3]!.seq, priority: 'high', queuedAt: records[3]!.queuedAt, vramMiB: 0 });
    expect(interrupted).toEqual([crashed.id]);
    expect(store.get(crashed.id)).toMatchObject({
      status: 'failed',
      finishedAt: 7777,
      device: 'gpu1',
      error: { code: 'INTERRUPTED', message: 'interrupted by restart: the process stopped while this task ran' },
    });
    // Recovery is durable and runs once: a second restart finds nothing running.
    store = await reopen(store);
    expect((await store.recover(8888)).interrupted).toEqual([]);
    expect(store.get(crashed.id)?.finishedAt).toBe(7777);
  });

  it('hands out sequence numbers that keep increasing across reopen', async () => {
    let store = openStore();
    const first = store.nextSeq();
    expect(store.nextSeq()).toBe(first + 1);
    const older = newTask(store);
    const newer = newTask(store);
    // Committed newest first: the persisted high-water mark must not move back to the older seq.
    await store.insert(newer.record, newer.entry);
    await store.insert(older.record, older.entry);
    store = await reopen(store);
    const afterReopen = store.nextSeq();
    expect(afterReopen).toBeGreaterThan(newer.record.seq);
    await insert(store);
    store = await reopen(store);
    expect(store.nextSeq()).toBeGreaterThan(afterReopen + 1);
  });

  it('creates the data directory with mode 0700 and its files 0600', () => {
    const dir = path.join(tmp, 'nested', 'store.db');
    openStore(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'data.mdb')).mode & 0o777).toBe(0o600);
  });

  it('pipelines insert, markRunning and finish issued in one turn', async () => {
    const store = openStore();
    const { record, entry } = newTask(store);
    const results = await Promise.all([
      store.insert(record, entry),
      store.markRunning(record.id, { startedAt: 10, device: 'gpu0' }),
      store.finish(record.id, { status: 'failed', error: { code: 'HANDLER_ERROR', message: 'boom' }, finishedAt: 20 }),
    ]);
    expect(results[2]).toMatchObject({ status: 'failed', startedAt: 10, device: 'gpu0', error: { code: 'HANDLER_ERROR', message: 'boom' } });
    const reopened = await reopen(store);
    expect(reopened.get(record.id)).toEqual({ ...results[2], payload: record.payload });
    expect(await reopened.recover(30)).toEqual({ queued: [], interrupted: [] });
  });

  it('rejects invalid state changes with typed errors and writes nothing', async () => {
    let store = openStore();
    const task = await insert(store);
    await expect(store.markRunning('nope', { startedAt: 1 })).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await expect(store.finish('nope', { status: 'cancelled', finishedAt: 1 })).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    const dup = newTask(store);
    await expect(store.insert({ ...dup.record, id: task.id }, { ...dup.entry, id: task.id })).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await expect(store.insert(dup.record, { ...dup.entry, seq: dup.record.seq + 1 })).rejects.toMatchObject({ code: 'STORE_ERROR' });
    const bad = newTask(store, 'llm', 'normal', { handle: Symbol('not encodable') });
    await expect(store.insert(bad.record, bad.entry)).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
    await store.finish(task.id, { status: 'cancelled', finishedAt: 2 });
    await expect(store.finish(task.id, { status: 'succeeded', finishedAt: 3 })).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await expect(store.markRunning(task.id, { startedAt: 3 })).rejects.toMatchObject({ code: 'STORE_ERROR' });
    store = await reopen(store);
    expect(store.get(bad.record.id)).toBeUndefined();
    expect(store.get(task.id)).toMatchObject({ status: 'cancelled', finishedAt: 2 });
    expect(await store.recover(4)).toEqual({ queued: [], interrupted: [] });
    expect(store.counts()).toEqual({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 1 });
  });

  it('refuses calls after close and a second handle on an open directory', async () => {
    const store = openStore();
    expectStoreError(() => TaskStore.open({ dir: store.dir }), store.dir);
    await store.close();
    await store.close();
    const { record, entry } = newTask(store);
    await expect(store.insert(record, entry)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await expect(store.recover(1)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    expect(() => store.get('x')).toThrow(/closed/);
  });

  it('refuses a path that is a regular file', () => {
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, 'not a directory');
    expectStoreError(() => TaskStore.open({ dir: file }), file);
  });

  it.each([
    ['text', Buffer.from('this is not an LMDB file\n'.repeat(400))],
    ['a short file', Buffer.from('short')],
    ['zeros', Buffer.alloc(16384)],
  ])('refuses a directory whose data.mdb is garbage (%s)', (_name, contents) => {
    const dir = path.join(tmp, 'garbage');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'data.mdb'), contents);
    expectStoreError(() => TaskStore.open({ dir }), dir);
    expect(fs.readFileSync(path.join(dir, 'data.mdb'))).toEqual(contents);
  });

  it('refuses a directory it cannot create or write', () => {
    const parent = path.join(tmp, 'locked');
    fs.mkdirSync(parent);
    fs.chmodSync(parent, 0o500);
    let chmodEffective = false;
    try {
      fs.accessSync(parent, fs.constants.W_OK);
    } catch {
      chmodEffective = true;
    }
    try {
      // As root, permission bits do not bind: a path below a regular file cannot be created either.
      const file = path.join(tmp, 'plain-file');
      fs.writeFileSync(file, '');
      const dir = chmodEffective ? path.join(parent, 'store') : path.join(file, 'sub');
      expectStoreError(() => TaskStore.open({ dir }), dir);
      if (chmodEffective) expectStoreError(() => TaskStore.open({ dir: parent }), parent);
    } finally {
      fs.chmodSync(parent, 0o700);
    }
  });

  it('refuses, without hanging, a directory under procfs (where recursive mkdir spins forever)', () => {
    expectStoreError(() => TaskStore.open({ dir: '/proc/vram-scheduler-test/data' }), '/proc/vram-scheduler-test/data');
  });

  it('rejects a missing dir option as invalid options', () => {
    expect(() => TaskStore.open({ dir: '' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
