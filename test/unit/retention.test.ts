/** Result retention: finished records are pruned by count and age, oldest first; queued and running work never is. */
import { open } from 'lmdb';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, type Scheduler } from 'vram-scheduler';
import { TaskStore } from '../../src/store/task-store.js';
import type { QueueEntry, TaskRecord } from '../../src/task.js';
import { gatePerTest } from '../support/gate.js';
import { fixture, start, tempDir } from '../support/scheduler.js';

const openGate = gatePerTest();

const echo = { echo: { handler: fixture('echo-handler.mjs'), gpu: false } };

async function runAll(scheduler: Scheduler, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await scheduler.run('echo', { i })).id);
  return ids;
}

const exists = (scheduler: Scheduler, id: string) =>
  scheduler.get(id).then(() => true, (e: { code?: string }) => (e.code === ErrorCode.TASK_NOT_FOUND ? false : Promise.reject(e)));

describe('retain', () => {
  it('keeps only the newest maxCount finished records', async () => {
    const scheduler = await start({ types: echo, retain: { maxCount: 3 } });
    const ids = await runAll(scheduler, 10);
    await vi.waitFor(async () => expect(await exists(scheduler, ids[6]!)).toBe(false));
    const kept = await Promise.all(ids.map((id) => exists(scheduler, id)));
    expect(kept).toEqual([false, false, false, false, false, false, false, true, true, true]);
  });

  it('deletes records older than maxAgeMs, but never a queued or running task', async () => {
    const gate = openGate();
    const scheduler = await start({ types: { ...echo, held: { handler: fixture('gated-handler.mjs'), vramGb: 20 } }, retain: { maxAgeMs: 100 } });
    const [done] = await runAll(scheduler, 1);
    const running = await scheduler.submit('held', { tag: 'running' });
    const queued = await scheduler.submit('held', { tag: 'queued' });
    await gate.waitForStarted(1);
    await vi.waitFor(async () => expect(await exists(scheduler, done!)).toBe(false), { timeout: 5000 });
    expect((await scheduler.get(running.id)).status).toBe('running');
    expect((await scheduler.get(queued.id)).status).toBe('queued');
  });

  it('prunes at start-up what a lower limit no longer keeps', async () => {
    const dataDir = tempDir();
    const first = await start({ types: echo, dataDir, retain: false });
    const ids = await runAll(first, 5);
    await first.close();
    const second = await start({ types: echo, dataDir, retain: { maxCount: 2 } });
    await vi.waitFor(async () => expect(await exists(second, ids[2]!)).toBe(false));
    expect(await Promise.all(ids.map((id) => exists(second, id)))).toEqual([false, false, false, true, true]);
  });

  it.each([
    ['a string', 'forever'],
    ['a negative count', { maxCount: -1 }],
    ['a fractional age', { maxAgeMs: 1.5 }],
    ['an unknown key', { maxCount: 1, keepFailed: true }],
  ])('refuses %s with INVALID_OPTIONS', async (_, retain) => {
    await expect(start({ types: echo, retain: retain as never })).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTIONS, message: expect.stringContaining('options.retain') });
  });
});

describe('TaskStore.prune', () => {
  const record = (seq: number): [TaskRecord, QueueEntry] => {
    const id = `t${seq}`;
    return [
      { id, type: 'echo', seq, priority: 'normal', payload: null, status: 'queued', queuedAt: 0 },
      { id, type: 'echo', seq, priority: 'normal', queuedAt: 0, vramMiB: 0 },
    ];
  };

  it('deletes oldest first, in batches of at most `limit`, and indexes stores written before the index existed', async () => {
    const dir = tempDir();
    let store = TaskStore.open({ dir });
    for (let seq = 1; seq <= 6; seq++) {
      const [r, e] = record(seq);
      await store.insert(r, e);
      await store.finish(r.id, { status: 'succeeded', value: seq, finishedAt: 100 - seq }); // t6 ended first
    }
    await store.close();
    // An older store: no finished index yet.
    const raw = open({ path: dir, maxDbs: 8 });
    await raw.openDB({ name: 'finished' }).clearAsync();
    await raw.openDB({ name: 'meta' }).remove('finishedIndex');
    await raw.close();

    store = TaskStore.open({ dir });
    expect(store.finishedCount).toBe(6);
    expect(store.oldestFinishedAt()).toBe(94);
    expect(await store.prune({ endedBefore: 0, keep: 1, limit: 2 })).toBe(2);
    expect([store.get('t6'), store.get('t5')]).toEqual([undefined, undefined]);
    expect(await store.prune({ endedBefore: 98, keep: Infinity, limit: 100 })).toBe(2);
    expect(['t1', 't2', 't3', 't4'].map((id) => store.get(id) !== undefined)).toEqual([true, true, false, false]);
    expect(store.finishedCount).toBe(2);
    await store.close();
  });
});

