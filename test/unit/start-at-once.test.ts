/** A free-lane task submitted while a thread is free and nothing waits is stored as running in its insert's commit. */
import { expect, it } from 'vitest';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

const gated = { chores: { handler: fixture('gated-handler.mjs'), gpu: false } };

it('an idle submit is committed as running when it resolves; later ones queue and start in order', async () => {
  const gate = openGate();
  const scheduler = await start({ types: gated, freeLaneThreads: 1 });
  const events: string[] = [];
  scheduler.on('task:queued', (e) => events.push(`task:queued ${e.id}`));
  scheduler.on('task:started', (e) => events.push(`task:started ${e.id}`));
  const a = await scheduler.submit('chores', { tag: 'a' });
  // Its committed state says it is running: an acknowledged task is never run without that mark.
  expect((await scheduler.get(a.id)).status).toBe('running');
  expect(events).toEqual([`task:queued ${a.id}`, `task:started ${a.id}`]);
  await gate.waitForStarted(1);
  const b = await scheduler.submit('chores', { tag: 'b' });
  const c = await scheduler.submit('chores', { tag: 'c' });
  expect((await scheduler.get(b.id)).status).toBe('queued');
  gate.releaseAll();
  await Promise.all([a, b, c].map((t) => scheduler.wait(t.id)));
  expect(gate.started.map((s) => s.started)).toEqual(['a', 'b', 'c']);
  expect(events.filter((e) => e.startsWith('task:started'))).toEqual([a, b, c].map((t) => `task:started ${t.id}`));
});

it('a GPU task whose warm batch has a free seat is committed as running on its device when submit resolves; a busy seat or a larger budget queues', async () => {
  const gate = openGate();
  const scheduler = await start({
    devices: [{ id: 'gpu0', vramGb: 8 }],
    types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 3, keepAliveMs: 60_000, concurrency: 1 } },
  });
  const events: string[] = [];
  scheduler.on('task:queued', (e) => events.push(`task:queued ${e.id}`));
  scheduler.on('task:started', (e) => events.push(`task:started ${e.id}`));
  const settle = async (tag: string, id: string) => {
    gate.release(tag);
    await scheduler.wait(id);
    await scheduler.drain();
  };
  // No batch yet: the first task is queued, and its batch starts for it.
  const first = await scheduler.submit('llm', { tag: 'first' });
  expect((await scheduler.get(first.id)).status).toBe('queued');
  await gate.waitForStarted(1);
  await settle('first', first.id);
  expect(scheduler.snapshot().batches).toMatchObject([{ type: 'llm', state: 'warm', running: 0 }]);

  events.length = 0;
  const a = await scheduler.submit('llm', { tag: 'a' });
  expect(await scheduler.get(a.id)).toMatchObject({ status: 'running', device: 'gpu0', attempts: 1 });
  expect(events).toEqual([`task:queued ${a.id}`, `task:started ${a.id}`]);
  expect((await gate.waitForStarted(2))[1]).toMatchObject({ started: 'a', device: 'gpu0' });
  // Its one seat is taken: the next task queues behind it.
  const b = await scheduler.submit('llm', { tag: 'b' });
  expect((await scheduler.get(b.id)).status).toBe('queued');
  gate.release('a');
  await gate.waitForStarted(3);
  await settle('b', b.id);
  // A task needing more than the warm batch's lease queues: its batch grows the lease first.
  const big = await scheduler.submit('llm', { tag: 'big' }, { vramGb: 5 });
  expect((await scheduler.get(big.id)).status).toBe('queued');
  await gate.waitForStarted(4);
  gate.release('big');
  expect(await scheduler.wait(big.id)).toMatchObject({ status: 'succeeded' });
  expect(gate.started.map((s) => s.started)).toEqual(['first', 'a', 'b', 'big']);
});
