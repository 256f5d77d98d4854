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
