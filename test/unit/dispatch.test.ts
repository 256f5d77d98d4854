import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Scheduler } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const gated = fixture('gated-handler.mjs');
const echo = fixture('echo-handler.mjs');
const openGate = gatePerTest();

function batchLog(scheduler: Scheduler): string[] {
  const log: string[] = [];
  scheduler.on('batch:started', (e) => log.push(`start ${e.type} ${e.device} ${e.vramGb}`));
  scheduler.on('batch:ended', (e) => log.push(`end ${e.type} ${e.tasks}`));
  return log;
}

describe('dispatch', () => {
  it('starts the deepest queue first among the types that fit', async () => {
    const gate = openGate();
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 6 }],
      types: {
        blocker: { handler: gated, vramGb: 6 },
        shallow: { handler: gated, vramGb: 5 },
        deep: { handler: gated, vramGb: 5 },
      },
    });
    const log = batchLog(s);
    await s.submit('blocker', { tag: 'blocker' });
    await gate.waitForStarted(1);
    for (const tag of ['s1', 's2']) await s.submit('shallow', { tag });
    for (const tag of ['d1', 'd2', 'd3']) await s.submit('deep', { tag });
    expect(s.snapshot().queues).toEqual({ blocker: 0, shallow: 2, deep: 3 });
    gate.releaseAll();
    await s.drain();
    expect(log).toEqual([
      'start blocker gpu0 6',
      'end blocker 1',
      'start deep gpu0 5',
      'end deep 3',
      'start shallow gpu0 5',
      'end shallow 2',
    ]);
    expect(gate.started.map((t) => t.started)).toEqual(['blocker', 'd1', 'd2', 'd3', 's1', 's2']);
  });

  it('runs several batches at once when VRAM allows, each covered by its lease', async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 5 }, b: { handler: gated, vramGb: 7.5 } } });
    await s.submit('a', { tag: 'a1' });
    await s.submit('b', { tag: 'b1' });
    await gate.waitForStarted(2);
    const snapshot = s.snapshot();
    expect(snapshot.devices).toEqual([{ id: 'gpu0', vramGb: 24, reservedGb: 12.5, externalGb: 0 }]);
    expect(snapshot.batches.map((b) => [b.type, b.vramGb, b.running]).sort()).toEqual([
      ['a', 5, 1],
      ['b', 7.5, 1],
    ]);
    gate.releaseAll();
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('hands a task submitted while its batch runs to that batch: one model load, FIFO order', async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 2 } } });
    const log = batchLog(s);
    const first = await s.submit('a', { tag: 't0' });
    await gate.waitForStarted(1);
    const rest = [];
    for (let i = 1; i < 5; i++) rest.push(await s.submit('a', { tag: `t${i}` }));
    gate.releaseAll();
    await s.wait(first.id);
    await s.drain();
    expect(log).toEqual(['start a gpu0 2', 'end a 5']);
    expect(gate.started.map((t) => t.started)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(new Set(gate.started.map((t) => t.thread)).size).toBe(1);
  });

  it("runs a type's `concurrency` tasks at once in its one thread, and the next when one ends", async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 2, concurrency: 2 } } });
    for (const tag of ['t1', 't2', 't3']) await s.submit('a', { tag });
    const [t1, t2] = await gate.waitForStarted(2);
    expect([t1!.started, t2!.started]).toEqual(['t1', 't2']);
    expect(t2!.thread).toBe(t1!.thread);
    expect(s.snapshot().batches.map((b) => [b.type, b.running])).toEqual([['a', 2]]);
    expect(s.snapshot().queues).toEqual({ a: 1 });
    gate.release('t1');
    const [, , t3] = await gate.waitForStarted(3);
    expect(t3).toMatchObject({ started: 't3', thread: t1!.thread });
    gate.releaseAll();
    await s.drain();
  });

  it('keeps the model loaded for the whole batch', async () => {
    const s = await start({ types: { a: { handler: echo, vramGb: 2 } } });
    const ids = await Promise.all([1, 2, 3, 4].map((i) => s.submit('a', { i })));
    const results = await Promise.all(ids.map(({ id }) => s.wait(id)));
    expect(results.map((r) => (r.value as { loads: number }).loads)).toEqual([1, 1, 1, 1]);
  });

  it('chooses the device where the budget fits best and never sums devices', async () => {
    const gate = openGate();
    const s = await start({
      devices: [
        { id: 'big', vramGb: 8 },
        { id: 'small', vramGb: 6 },
      ],
      types: { a: { handler: gated, vramGb: 5 }, b: { handler: gated, vramGb: 5 }, huge: { handler: gated, vramGb: 9 } },
    });
    await s.submit('a', { tag: 'a' });
    const [first] = await gate.waitForStarted(1);
    expect(first!.device).toBe('small');
    await s.submit('b', { tag: 'b' });
    const [, second] = await gate.waitForStarted(2);
    expect(second!.device).toBe('big');
    await expect(s.submit('huge', { tag: 'h' })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES' });
  });

  it('grows the batch lease for a task that overrides its budget, and shrinks it after', async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 2 } } });
    await s.submit('a', { tag: 'small' });
    await gate.waitForStarted(1);
    const big = await s.submit('a', { tag: 'big' }, { vramGb: 4 });
    gate.release('small');
    await gate.waitForStarted(2);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(4);
    expect(s.snapshot().batches[0]).toMatchObject({ type: 'a', vramGb: 4, running: 1 });
    gate.release('big');
    expect((await s.wait(big.id)).status).toBe('succeeded');
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('ends the batch when an override cannot grow, and starts the task where it fits later', async () => {
    const gate = openGate();
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 6 }],
      types: { a: { handler: gated, vramGb: 2 }, b: { handler: gated, vramGb: 4 } },
    });
    const log = batchLog(s);
    await s.submit('a', { tag: 'a-small' });
    await s.submit('b', { tag: 'b' });
    await gate.waitForStarted(2);
    const big = await s.submit('a', { tag: 'a-big' }, { vramGb: 3 });
    gate.release('a-small');
    await once(s, 'batch:ended');
    expect(log).toContain('end a 1');
    expect(s.snapshot().queues.a).toBe(1);
    gate.release('b');
    await gate.waitForStarted(3);
    expect(s.snapshot().batches).toMatchObject([{ type: 'a', vramGb: 3 }]);
    gate.release('a-big');
    expect((await s.wait(big.id)).status).toBe('succeeded');
    await s.drain();
    expect(log.slice(-2)).toEqual(['start a gpu0 3', 'end a 1']);
  });

  it('lets a running task grow its VRAM through ctx.vram when it is free, and returns it after', async () => {
    const gate = openGate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types: { a: { handler: gated, vramGb: 2 } } });
    const fits = await s.submit('a', { tag: 'fits', growGb: 3 });
    const [first] = await gate.waitForStarted(1);
    expect(first!.grew).toBe(true);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(5);
    gate.release('fits');
    expect(await s.wait(fits.id)).toMatchObject({ value: { extraGb: 3 } });
    await s.submit('a', { tag: 'too-much', growGb: 7 });
    const [, second] = await gate.waitForStarted(2);
    expect(second!.grew).toBe(false);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(2);
    gate.release('too-much');
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('starts a waiting type as soon as a running batch gives VRAM back, not only when the batch ends', async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 4 }, b: { handler: gated, vramGb: 10 } } });
    await s.submit('a', { tag: 'a-big' }, { vramGb: 20 });
    await gate.waitForStarted(1);
    await s.submit('a', { tag: 'a-next' });
    await s.submit('b', { tag: 'b' });
    gate.release('a-big'); // the batch shrinks from 20 to 4 GB and goes on with a-next
    const started = await gate.waitForStarted(3);
    expect(started.map((t) => t.started).sort()).toEqual(['a-big', 'a-next', 'b']);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(14);
  }, 10_000);

  it('starts a waiting type when a running task gives back VRAM it grew', async () => {
    const gate = openGate();
    const s = await start({ types: { a: { handler: gated, vramGb: 4 }, b: { handler: gated, vramGb: 10 } } });
    await s.submit('a', { tag: 'grower', growGb: 16 });
    await gate.waitForStarted(1);
    await s.submit('a', { tag: 'a-next' });
    await s.submit('b', { tag: 'b' });
    gate.release('grower');
    const started = await gate.waitForStarted(3);
    expect(started.map((t) => t.started).sort()).toEqual(['a-next', 'b', 'grower']);
  }, 10_000);

  it('runs free-lane tasks at once, without VRAM, even when every device is full', async () => {
    const gate = openGate();
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 4 }],
      types: { a: { handler: gated, vramGb: 4 }, chores: { handler: echo, gpu: false } },
    });
    await s.submit('a', { tag: 'gpu-work' });
    await gate.waitForStarted(1);
    const result = await s.run('chores', { n: 1 });
    expect(result).toMatchObject({ status: 'succeeded', value: { payload: { n: 1 }, device: null } });
    expect(result.device).toBeUndefined();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(4);
  });
});
