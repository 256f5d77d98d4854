/** Handlers call back to the app: ctx.progress (throttled) and ctx.submit (durable, same rules). */
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, type SchedulerEvents } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

const types = { calls: { handler: fixture('calls-handler.mjs'), gpu: false }, echo: { handler: fixture('echo-handler.mjs'), gpu: false } };

describe('ctx.progress', () => {
  it('reaches task:progress and get(id).progress, throttled so a burst of 1,000 sends at most a few', async () => {
    const gate = openGate();
    const s = await start({ types });
    const events: Parameters<SchedulerEvents['task:progress']>[0][] = [];
    s.on('task:progress', (e) => events.push(e));
    const { id } = await s.submit('calls', { op: 'progress', reports: 1000, tag: 'p' });
    await gate.waitForStarted(1);
    await vi.waitFor(async () => expect((await s.get(id)).progress).toEqual({ value: 1000, info: { tokens: 10_000 } }));
    expect(events[0]).toEqual({ id, type: 'calls', value: 1, info: { tokens: 10 } });
    expect(events.at(-1)).toMatchObject({ value: 1000 });
    expect(events.length).toBeLessThanOrEqual(3);
    gate.release('p');
    await s.wait(id);
    expect((await s.get(id)).progress).toBeUndefined();
  });

  it('throws at the call for an `info` that cannot be cloned, and the task and its thread go on', async () => {
    const s = await start({ types, freeLaneThreads: 1 });
    const done = await s.run('calls', { op: 'bad-progress' });
    expect(done).toMatchObject({ status: 'succeeded', value: { threw: 'TypeError', message: expect.stringContaining('ctx.progress()') } });
    expect(await s.run('echo', 'next')).toMatchObject({ status: 'succeeded' }); // the thread lives on
  });
});

describe('ctx.submit', () => {
  it('queues a follow-up task durably, which runs like any other', async () => {
    const s = await start({ types });
    const parent = await s.run('calls', { op: 'submit', type: 'echo', payload: { hello: 'child' } });
    const { receipt } = parent.value as { receipt: { id: string; isNew: boolean } };
    expect(receipt.isNew).toBe(true);
    expect(await s.wait(receipt.id)).toMatchObject({ status: 'succeeded', type: 'echo' });
    expect((await s.get(receipt.id)).payload).toEqual({ hello: 'child' });
  });

  it('rejects in the handler with the same typed error as submit()', async () => {
    const s = await start({ types });
    const parent = await s.run('calls', { op: 'submit', type: 'nope', payload: {} });
    expect(parent.value).toMatchObject({ code: ErrorCode.UNKNOWN_TYPE, message: expect.stringContaining('nope') });
  });
});
