/** Preemption: urgent work stops preemptible lower-priority batches, which resume from their checkpoints; nothing else is interrupted. */
import { describe, expect, it, vi } from 'vitest';
import type { SchedulerEvents } from 'vram-scheduler';
import { choosePreemption, type RunningBatch } from '../../src/dispatch/preempt.js';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

const types = (preemptible: boolean) => ({
  bulk: { handler: fixture('checkpoint-handler.mjs'), vramGb: 16, preemptible },
  urgent: { handler: fixture('gated-handler.mjs'), vramGb: 16 },
});

async function scenario(options: { preemption: boolean; preemptible: boolean; urgentPriority: 'critical' | 'high' | 'normal'; stubborn?: boolean }) {
  const gate = openGate();
  const s = await start({ types: types(options.preemptible), preemption: options.preemption, cancelGraceMs: 200 });
  const preempted: Parameters<SchedulerEvents['task:preempted']>[0][] = [];
  const endReasons: string[] = [];
  let peakGb = 0;
  s.on('task:preempted', (e) => preempted.push(e));
  s.on('batch:ended', (e) => endReasons.push(`${e.type}:${e.reason}`));
  s.on('task:started', () => (peakGb = Math.max(peakGb, s.snapshot().devices[0]!.reservedGb)));
  const bulk = await s.submit('bulk', { tag: 'bulk', step: 7, stubborn: options.stubborn ?? false }, { priority: 'low' });
  await gate.waitForStarted(1);
  const urgent = await s.submit('urgent', { tag: 'urgent' }, { priority: options.urgentPriority });
  return { s, gate, bulk: bulk.id, urgent: urgent.id, preempted, endReasons, peak: () => peakGb };
}

describe('preemption', () => {
  it('a high task preempts a preemptible batch; the victim goes back to the head of its line and resumes from its checkpoint', async () => {
    const { s, gate, bulk, urgent, preempted, endReasons, peak } = await scenario({ preemption: true, preemptible: true, urgentPriority: 'high' });
    const [, second] = await gate.waitForStarted(2);
    expect(second!.started).toBe('urgent');
    gate.release('urgent');
    expect(await s.wait(urgent)).toMatchObject({ status: 'succeeded' });
    const [, , third] = await gate.waitForStarted(3);
    expect(third).toMatchObject({ started: 'bulk', resumeFrom: { step: 7 } });
    gate.release('bulk');
    expect(await s.wait(bulk)).toMatchObject({ status: 'succeeded', value: { resumedFrom: { step: 7 } } });
    expect(await s.get(bulk)).toMatchObject({ attempts: 1, preemptions: 1, checkpoint: { step: 7 } });
    expect(preempted).toEqual([{ id: bulk, type: 'bulk', checkpointed: true }]);
    expect(endReasons).toContain('bulk:preempted');
    expect(peak()).toBeLessThanOrEqual(24);
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it.each([
    ['a non-preemptible type', { preemption: true, preemptible: false, urgentPriority: 'critical' as const }],
    ['preemption off (the default)', { preemption: false, preemptible: true, urgentPriority: 'critical' as const }],
    ['a normal-priority waiting task', { preemption: true, preemptible: true, urgentPriority: 'normal' as const }],
  ])('never interrupts with %s', async (_, options) => {
    const { s, gate, bulk, urgent, preempted } = await scenario(options);
    expect(s.snapshot().queues.urgent).toBe(1); // dispatch ran and left it waiting
    gate.release('bulk');
    expect(await s.wait(bulk)).toMatchObject({ status: 'succeeded', value: { resumedFrom: null } });
    expect((await gate.waitForStarted(2)).map((t) => t.started)).toEqual(['bulk', 'urgent']);
    gate.release('urgent');
    expect(await s.wait(urgent)).toMatchObject({ status: 'succeeded' });
    expect(preempted).toEqual([]);
    expect((await s.get(bulk)).preemptions).toBeUndefined();
  });

  it('does not preempt a warm batch of a non-preemptible type that the same dispatch gives work', async () => {
    const gate = openGate();
    const s = await start({
      types: { kept: { handler: fixture('checkpoint-handler.mjs'), vramGb: 16, keepAliveMs: 60_000 }, urgent: { handler: fixture('gated-handler.mjs'), vramGb: 16 } },
      preemption: true,
    });
    const preempted: string[] = [];
    s.on('task:preempted', (e) => preempted.push(e.id));
    const first = await s.submit('kept', { tag: 'k1', step: 1 });
    await gate.waitForStarted(1);
    gate.release('k1');
    await s.wait(first.id);
    await vi.waitFor(() => expect(s.snapshot().batches).toMatchObject([{ type: 'kept', state: 'warm' }]));
    // One commit, one dispatch: the warm batch is woken for k2 while a critical task waits for its VRAM.
    const [next, urgent] = await Promise.all([s.submit('kept', { tag: 'k2', step: 2 }, { priority: 'low' }), s.submit('urgent', { tag: 'u' }, { priority: 'critical' })]);
    await gate.waitForStarted(2);
    gate.release('k2');
    expect(await s.wait(next.id)).toMatchObject({ status: 'succeeded', value: { resumedFrom: null } });
    await gate.waitForStarted(3);
    gate.release('u');
    expect(await s.wait(urgent.id)).toMatchObject({ status: 'succeeded' });
    expect(preempted).toEqual([]);
  });

  it('terminates a handler that ignores the signal after the grace period, and requeues its task instead of failing it', async () => {
    const { s, gate, bulk, urgent, preempted } = await scenario({ preemption: true, preemptible: true, urgentPriority: 'critical', stubborn: true });
    await gate.waitForStarted(2);
    gate.release('urgent');
    await s.wait(urgent);
    const [, , third] = await gate.waitForStarted(3);
    expect(third).toMatchObject({ started: 'bulk', resumeFrom: null });
    gate.release('bulk');
    expect(await s.wait(bulk)).toMatchObject({ status: 'succeeded' });
    expect(preempted).toEqual([{ id: bulk, type: 'bulk', checkpointed: false }]);
  });

  it('a cancel while being preempted ends the task as cancelled', async () => {
    const { s, gate, bulk, urgent } = await scenario({ preemption: true, preemptible: true, urgentPriority: 'high', stubborn: true });
    await s.cancel(bulk);
    expect(await s.wait(bulk)).toMatchObject({ status: 'cancelled' });
    await gate.waitForStarted(2);
    gate.release('urgent');
    expect(await s.wait(urgent)).toMatchObject({ status: 'succeeded' });
  });
});

describe('choosePreemption', () => {
  const batch = (type: string, device: number, mib: number, rank: number, extra: Partial<RunningBatch> = {}): RunningBatch =>
    ({ type, device, mib, rank, preemptible: true, ending: false, ...extra });
  const devices = [{ capacityMiB: 24, reservedMiB: 24 }, { capacityMiB: 24, reservedMiB: 24 }];

  it('takes the device needing the fewest victims, lowest priority first', () => {
    const running = [batch('a', 0, 8, 2), batch('b', 0, 8, 3), batch('c', 0, 8, 2), batch('d', 1, 16, 3), batch('e', 1, 8, 2)];
    expect(choosePreemption({ type: 'x', rank: 1, needMiB: 16 }, running, devices).map((b) => b.type)).toEqual(['d']);
    expect(choosePreemption({ type: 'x', rank: 1, needMiB: 20 }, running, devices).map((b) => b.type)).toEqual(['d', 'e']);
  });

  it('spares non-preemptible batches, batches as urgent as the task, and does nothing when room is on its way back or the task is not urgent', () => {
    expect(choosePreemption({ type: 'x', rank: 1, needMiB: 8 }, [batch('a', 0, 24, 2, { preemptible: false }), batch('b', 1, 24, 1)], devices)).toEqual([]);
    expect(choosePreemption({ type: 'x', rank: 0, needMiB: 8 }, [batch('a', 0, 24, 2, { ending: true }), batch('b', 1, 24, 3)], devices)).toEqual([]);
    expect(choosePreemption({ type: 'x', rank: 2, needMiB: 8 }, [batch('a', 0, 24, 3)], devices)).toEqual([]);
  });
});
