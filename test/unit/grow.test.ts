/** ctx.vram.grow(): waits for VRAM to come free, times out with VRAM_GROW_TIMEOUT, gives up when the task is stopped. */
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

const types = {
  held: { handler: fixture('gated-handler.mjs'), vramGb: 10 },
  grower: { handler: fixture('grow-handler.mjs'), vramGb: 4 },
};

describe('ctx.vram.grow', () => {
  it('waits until the VRAM is given back, then holds it; the device is never over-reserved', async () => {
    const gate = openGate();
    const s = await start({ types });
    let peakGb = 0;
    s.on('task:started', () => (peakGb = Math.max(peakGb, s.snapshot().devices[0]!.reservedGb)));
    const order: string[] = [];
    s.on('task:succeeded', (r) => order.push(r.type));
    await s.submit('held', { tag: 'held' });
    await gate.waitForStarted(1);
    const grower = await s.submit('grower', { growGb: 12, timeoutMs: 10_000 }); // 10 + 4 + 12 > 24: must wait
    await vi.waitFor(() => expect(s.snapshot().batches.map((b) => b.type).sort()).toEqual(['grower', 'held']));
    gate.release('held');
    const result = await s.wait(grower.id);
    expect(result).toMatchObject({ status: 'succeeded', value: { grew: true, extraGb: 12 } });
    expect(order).toEqual(['held', 'grower']);
    expect(peakGb).toBeLessThanOrEqual(24);
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('rejects with VRAM_GROW_TIMEOUT when the VRAM does not come free in time, holding nothing more', async () => {
    const s = await start({ types });
    const result = await s.run('grower', { growGb: 30, timeoutMs: 50 });
    expect(result).toMatchObject({ status: 'succeeded', value: { grew: false, code: ErrorCode.VRAM_GROW_TIMEOUT, extraGb: 0 } });
  });

  it('stops waiting when the task is cancelled, and its lease is returned', async () => {
    const gate = openGate();
    const s = await start({ types });
    await s.submit('held', { tag: 'held' });
    await gate.waitForStarted(1);
    const grower = await s.submit('grower', { growGb: 12, timeoutMs: 60_000 });
    await vi.waitFor(() => expect(s.snapshot().batches.some((b) => b.type === 'grower' && b.running === 1)).toBe(true));
    await s.cancel(grower.id);
    expect(await s.wait(grower.id)).toMatchObject({ status: 'cancelled' });
    await vi.waitFor(() => expect(s.snapshot().devices[0]!.reservedGb).toBe(10)); // only the held batch
  });
});
