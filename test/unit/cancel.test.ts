import { afterEach, describe, expect, it } from 'vitest';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const gated = { handler: fixture('gated-handler.mjs'), vramGb: 4 };
const echo = { handler: fixture('echo-handler.mjs'), vramGb: 4 };
let gate: Gate | undefined;
afterEach(() => {
  gate?.releaseAll();
  gate?.close();
  gate = undefined;
});

describe('cancel', () => {
  it('cancels a queued task at once and durably; a finished one is not cancelled', async () => {
    gate = new Gate();
    const dataDir = tempDir();
    const s = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 4 }], types: { gated, echo } });
    await s.submit('gated', { tag: 'blocker' });
    await gate.waitForStarted(1);
    const queued = await s.submit('echo', {});
    const cancelled: string[] = [];
    s.on('task:cancelled', (r) => cancelled.push(r.id));
    expect(await s.cancel(queued.id)).toBe(true);
    expect(await s.result(queued.id)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(cancelled).toEqual([queued.id]);
    expect(s.snapshot().queues.echo).toBe(0);
    gate.release('blocker');
    await s.drain();
    const done = await s.run('echo', {});
    expect(await s.cancel(done.id)).toBe(false);
    await expect(s.cancel('no-such-id')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await s.close();
    const again = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 4 }], types: { gated, echo } });
    expect(await again.result(queued.id)).toMatchObject({ status: 'cancelled' });
  });

  it('a running handler that honours ctx.signal stops; its thread lives on and the lease returns', async () => {
    gate = new Gate();
    const s = await start({ types: { gated } });
    const task = await s.submit('gated', { tag: 'coop', cooperative: true });
    const [first] = await gate.waitForStarted(1);
    expect(await s.cancel(task.id)).toBe(true);
    expect(await s.wait(task.id)).toMatchObject({ status: 'cancelled' });
    await s.submit('gated', { tag: 'next' });
    const [, next] = await gate.waitForStarted(2);
    expect(next!.thread).toBe(first!.thread);
    gate.release('next');
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('a running handler that ignores ctx.signal has its thread terminated after the grace period', async () => {
    gate = new Gate();
    const s = await start({ types: { gated }, cancelGraceMs: 50 });
    const task = await s.submit('gated', { tag: 'stubborn' });
    const [first] = await gate.waitForStarted(1);
    await s.cancel(task.id);
    expect(await s.wait(task.id)).toMatchObject({ status: 'cancelled' });
    await s.submit('gated', { tag: 'next' });
    const [, next] = await gate.waitForStarted(2);
    expect(next!.thread).not.toBe(first!.thread);
    gate.release('next');
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('terminating a stubborn task\'s thread ends the other tasks sharing it as crashed (retried when the type allows)', async () => {
    gate = new Gate();
    const s = await start({ types: { gated: { ...gated, concurrency: 2, retries: 1 } }, cancelGraceMs: 50 });
    const stubborn = await s.submit('gated', { tag: 'stubborn' });
    const sibling = await s.submit('gated', { tag: 'sibling' });
    const [first] = await gate.waitForStarted(2);
    await s.cancel(stubborn.id);
    expect(await s.wait(stubborn.id)).toMatchObject({ status: 'cancelled' });
    const [, , again] = await gate.waitForStarted(3);
    expect(again).toMatchObject({ started: 'sibling' });
    expect(again!.thread).not.toBe(first!.thread);
    gate.release('sibling');
    expect(await s.wait(sibling.id)).toMatchObject({ status: 'succeeded' });
    expect(await s.get(sibling.id)).toMatchObject({ attempts: 2, lastError: { code: 'WORKER_CRASHED' } });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('cancels through the submit AbortSignal, and refuses a submit whose signal is already aborted', async () => {
    gate = new Gate();
    const s = await start({ types: { gated } });
    const controller = new AbortController();
    const task = await s.submit('gated', { tag: 'signalled', cooperative: true }, { signal: controller.signal });
    await gate.waitForStarted(1);
    controller.abort();
    expect(await s.wait(task.id)).toMatchObject({ status: 'cancelled' });
    const aborted = AbortSignal.abort(new Error('user gave up'));
    await expect(s.submit('gated', { tag: 'never' }, { signal: aborted })).rejects.toThrow('user gave up');
  });

  it('clear(type) cancels every queued task of that type and returns the count; peek shows the next one', async () => {
    gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 4 }], types: { gated, echo, other: echo } });
    await s.submit('gated', { tag: 'blocker' });
    await gate.waitForStarted(1);
    const first = await s.submit('echo', { n: 1 });
    await s.submit('echo', { n: 2 });
    const urgent = await s.submit('other', { n: 3 }, { priority: 'high' });
    expect((await s.peek('echo'))?.id).toBe(first.id);
    expect((await s.peek())?.id).toBe(urgent.id);
    expect(await s.clear('echo')).toBe(2);
    expect(await s.peek('echo')).toBeUndefined();
    expect(s.snapshot().queues).toMatchObject({ echo: 0, other: 1 });
    expect(await s.clear()).toBe(1);
    await expect(s.clear('nope')).rejects.toMatchObject({ code: 'UNKNOWN_TYPE' });
  });
});

describe('timeouts', () => {
  it('fails a task past its time limit with TIMEOUT and returns its lease; the type goes on', async () => {
    gate = new Gate();
    const s = await start({ types: { gated: { ...gated, timeoutMs: 60_000 } }, cancelGraceMs: 50 });
    const slow = await s.submit('gated', { tag: 'slow' }, { timeoutMs: 50 });
    expect(await s.wait(slow.id)).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
    gate.releaseAll(); // from now on every task is released as it starts
    const next = await s.submit('gated', { tag: 'next' });
    expect(await s.wait(next.id)).toMatchObject({ status: 'succeeded' });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('applies the type timeout when the submit gives none', async () => {
    const s = await start({ types: { gated: { ...gated, timeoutMs: 50 } }, cancelGraceMs: 50 });
    const slow = await s.submit('gated', { tag: 'slow', cooperative: true });
    expect(await s.wait(slow.id)).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
  });
});
