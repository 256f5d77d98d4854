/** Races around a GPU task that a submit stores as running at once (a batch seat, see src/scheduler/submit-seat.ts). */
import { expect, it, vi } from 'vitest';
import type { Scheduler } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

/** Holds the commit of every insert-as-running until `commit()`: the window between a seat taken and its task stored. */
function holdSeatedInserts(s: Scheduler): { commit: () => void } {
  const store = (s as unknown as { store: { insertRunning: (...args: unknown[]) => Promise<unknown> } }).store;
  const insertRunning = store.insertRunning.bind(store);
  let commit!: () => void;
  const held = new Promise<void>((resolve) => (commit = resolve));
  store.insertRunning = (...args) => {
    const done = insertRunning(...args);
    return held.then(() => done);
  };
  return { commit };
}

it('a preemption that comes while a seated task is being inserted stops that task too', async () => {
  const gate = openGate();
  const s = await start({
    types: {
      bulk: { handler: fixture('checkpoint-handler.mjs'), vramGb: 16, preemptible: true, keepAliveMs: 60_000 },
      urgent: { handler: fixture('gated-handler.mjs'), vramGb: 16 },
    },
    preemption: true,
    cancelGraceMs: 200,
  });
  const first = await s.submit('bulk', { tag: 'b1', step: 1 }, { priority: 'low' });
  await gate.waitForStarted(1);
  gate.release('b1');
  await s.wait(first.id);
  await vi.waitFor(() => expect(s.snapshot().batches).toMatchObject([{ type: 'bulk', state: 'warm' }]));

  const { commit } = holdSeatedInserts(s);
  const seated = s.submit('bulk', { tag: 'b2', step: 2 }, { priority: 'low' });
  expect(s.snapshot().batches).toMatchObject([{ type: 'bulk', state: 'running', running: 1 }]);
  const urgent = await s.submit('urgent', { tag: 'u' }, { priority: 'high' });
  // The urgent task's dispatch preempts the bulk batch while b2's insert has not committed.
  await vi.waitFor(() => expect(s.snapshot().batches).toMatchObject([{ type: 'bulk', state: 'finishing' }]));
  commit();
  const b2 = await seated;

  // b2 goes back in line instead of holding the VRAM the urgent task waits for until it ends.
  expect((await gate.waitForStarted(2))[1]!.started).toBe('u');
  gate.release('u');
  expect(await s.wait(urgent.id)).toMatchObject({ status: 'succeeded' });
  expect((await gate.waitForStarted(3))[2]!.started).toBe('b2');
  gate.release('b2');
  expect(await s.wait(b2.id)).toMatchObject({ status: 'succeeded' });
  expect(await s.get(b2.id)).toMatchObject({ attempts: 1, preemptions: 1 });
});

it('cancel() from a task:queued listener stops a seated task, as it cancels a queued one', async () => {
  const gate = openGate();
  const s = await start({ types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 4, keepAliveMs: 60_000, concurrency: 2 } } });
  const first = await s.submit('llm', { tag: 'first' });
  await gate.waitForStarted(1);
  const cancels: Promise<boolean>[] = [];
  s.on('task:queued', (e) => void cancels.push(s.cancel(e.id)));
  // The batch runs `first` with a seat free: this task is stored as running in its insert's commit.
  const seated = await s.submit('llm', { tag: 'seated', cooperative: true });
  expect(await cancels[0]).toBe(true);
  expect(await s.wait(seated.id)).toMatchObject({ status: 'cancelled' });
  gate.release('first');
  await s.wait(first.id);
});

it('a submit signal aborted while the task is being written cancels it, seated or queued', async () => {
  const gate = openGate();
  const s = await start({ types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 4, keepAliveMs: 60_000, concurrency: 2 } } });
  const first = await s.submit('llm', { tag: 'first' });
  await gate.waitForStarted(1);
  const submitAborted = (tag: string) => {
    const controller = new AbortController();
    const receipt = s.submit('llm', { tag, cooperative: true }, { signal: controller.signal });
    controller.abort();
    return receipt;
  };
  const seated = await submitAborted('seated');
  expect(await s.wait(seated.id)).toMatchObject({ status: 'cancelled' });
  // a takes the seat free again; b is written while a is, so it is queued.
  const [a, b] = await Promise.all([submitAborted('a'), submitAborted('b')]);
  for (const { id } of [a, b]) expect(await s.wait(id)).toMatchObject({ status: 'cancelled' });
  gate.release('first');
  await s.wait(first.id);
});

it('a seated submit whose insert fails is not counted among its batch\'s tasks', async () => {
  const gate = openGate();
  const s = await start({ types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 4, keepAliveMs: 60_000 } } });
  const ended: number[] = [];
  s.on('batch:ended', (e) => ended.push(e.tasks));
  const first = await s.submit('llm', { tag: 'first' });
  await gate.waitForStarted(1);
  gate.release('first');
  await s.wait(first.id);
  await vi.waitFor(() => expect(s.snapshot().batches).toMatchObject([{ type: 'llm', state: 'warm', tasks: 1 }]));
  const store = (s as unknown as { store: { insertRunning: () => Promise<unknown> } }).store;
  store.insertRunning = () => Promise.reject(new Error('MDB_MAP_FULL: the disk is full'));
  await expect(s.submit('llm', { tag: 'lost' })).rejects.toMatchObject({ code: 'STORE_ERROR' });
  expect(s.snapshot().batches).toMatchObject([{ type: 'llm', state: 'warm', running: 0, tasks: 1 }]);
  await s.close();
  expect(ended).toEqual([1]);
});

it('a task queued behind a seat still starts at once when its batch has room; a full batch takes it when a seat frees', async () => {
  const gate = openGate();
  const s = await start({ types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 4, keepAliveMs: 60_000, concurrency: 3 } } });
  const a = await s.submit('llm', { tag: 'a' });
  await gate.waitForStarted(1);
  // b takes a seat; c, submitted while b's insert is written, is queued: the batch must hear of it.
  const [b, c] = await Promise.all([s.submit('llm', { tag: 'b' }), s.submit('llm', { tag: 'c' })]);
  expect((await gate.waitForStarted(3)).map((t) => t.started)).toEqual(['a', 'b', 'c']);
  // Now the batch holds all it may: d waits, unannounced, for the first seat to free.
  const d = await s.submit('llm', { tag: 'd' });
  expect(s.snapshot().queues).toEqual({ llm: 1 });
  gate.release('b');
  expect((await gate.waitForStarted(4))[3]!.started).toBe('d');
  gate.releaseAll();
  for (const { id } of [a, b, c, d]) expect(await s.wait(id)).toMatchObject({ status: 'succeeded' });
});
