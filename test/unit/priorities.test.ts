import { afterEach, describe, expect, it } from 'vitest';
import type { Priority, Scheduler } from 'vram-scheduler';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const gated = fixture('gated-handler.mjs');
const echo = fixture('echo-handler.mjs');

/** Holds the only device with a blocker task, queues `tasks`, then lets everything run; returns start order. */
async function orderAfterBlocker(s: Scheduler, gate: Gate, tasks: [type: string, tag: string, priority: Priority][]): Promise<string[]> {
  await s.submit('blocker', { tag: 'blocker' });
  await gate.waitForStarted(1);
  for (const [type, tag, priority] of tasks) await s.submit(type, { tag }, { priority });
  gate.releaseAll();
  await s.drain();
  return gate.started.slice(1).map((t) => t.started);
}

const types = {
  blocker: { handler: gated, vramGb: 8 },
  a: { handler: gated, vramGb: 6 },
  b: { handler: gated, vramGb: 6 },
};

describe('priorities', () => {
  it('serves critical before high before normal before low within a type, FIFO within each', async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types });
    const order = await orderAfterBlocker(s, gate, [
      ['a', 'n1', 'normal'],
      ['a', 'l1', 'low'],
      ['a', 'c1', 'critical'],
      ['a', 'n2', 'normal'],
      ['a', 'h1', 'high'],
      ['a', 'c2', 'critical'],
    ]);
    gate.close();
    expect(order).toEqual(['c1', 'c2', 'h1', 'n1', 'n2', 'l1']);
  });

  it('starts the type with the most urgent waiting task before a deeper queue', async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types });
    const order = await orderAfterBlocker(s, gate, [
      ['a', 'a1', 'normal'],
      ['a', 'a2', 'normal'],
      ['a', 'a3', 'normal'],
      ['b', 'b1', 'high'],
    ]);
    gate.close();
    expect(order).toEqual(['b1', 'a1', 'a2', 'a3']);
  });

  it('with priorityScheduling false, runs a type in acknowledgement order and ranks types by depth', async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types, priorityScheduling: false });
    const order = await orderAfterBlocker(s, gate, [
      ['a', 'a1', 'low'],
      ['a', 'a2', 'critical'],
      ['b', 'b1', 'critical'],
    ]);
    gate.close();
    expect(order).toEqual(['a1', 'a2', 'b1']);
  });

  it('keeps priorities across a restart', async () => {
    const dataDir = tempDir();
    const gate = new Gate();
    const first = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 8 }], types });
    await first.submit('blocker', { tag: 'blocker' });
    await gate.waitForStarted(1);
    const ids: Record<string, string> = {};
    for (const [n, priority] of [['n', 'normal'], ['c', 'critical'], ['l', 'low']] as const) {
      ids[n] = (await first.submit('a', { n }, { priority })).id;
    }
    const closing = first.close();
    gate.release('blocker');
    await closing;
    gate.close();

    const second = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 8 }], types: { ...types, a: { handler: echo, vramGb: 6 } } });
    const started: string[] = [];
    second.on('task:started', (e) => started.push(e.id));
    await second.drain();
    expect(started).toEqual([ids.c, ids.n, ids.l]);
  });
});

describe('queue position', () => {
  it('tells a queued task its place in line and an estimate from its type\'s run times', async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types: { ...types, a: { handler: echo, vramGb: 6 } } });
    await s.run('a', { warmup: true }); // one recorded run time for type a
    await s.submit('blocker', { tag: 'blocker' });
    await gate.waitForStarted(1);
    const ids = [];
    for (const priority of ['normal', 'normal', 'high'] as const) ids.push((await s.submit('a', {}, { priority })).id);
    const [first, second, urgent] = await Promise.all(ids.map((id) => s.position(id)));
    expect([urgent!.ahead, first!.ahead, second!.ahead]).toEqual([0, 1, 2]);
    expect(urgent!.etaMs).toBe(0);
    expect(second!.etaMs).toBeGreaterThanOrEqual(first!.etaMs!);
    gate.release('blocker');
    await s.drain();
    expect(await s.position(ids[0]!)).toBeUndefined();
    gate.close();
  });
});
