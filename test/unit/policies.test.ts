import { freemem } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Scheduler } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

const gated = { handler: fixture('gated-handler.mjs'), vramGb: 6 };
const echo = { handler: fixture('echo-handler.mjs'), vramGb: 6 };
/** One 8 GB card: while a 6 GB task runs on it, another 6 GB task cannot start. */
const card = [{ id: 'gpu0', vramGb: 8 }];
/** More system memory than this machine has free: never satisfiable. */
const tooMuchRamGb = Math.ceil(freemem() / 1024 ** 3) * 4 + 64;

/** Starts a `gated` task on the card and resolves once it runs; it holds its 6 GB until the test ends. */
async function holdCard(s: Scheduler): Promise<void> {
  const gate = openGate();
  await s.submit('gated', { tag: 'blocker' });
  await gate.waitForStarted(1);
}

describe('admission policies', () => {
  it("'queue' (default): a task that cannot start waits; with maxWaitMs it fails with WAIT_TIMEOUT", async () => {
    const s = await start({ devices: card, types: { gated, echo }, maxWaitMs: 50 });
    await holdCard(s);
    const waiting = await s.submit('echo', {});
    expect(await s.wait(waiting.id)).toMatchObject({ status: 'failed', error: { code: 'WAIT_TIMEOUT' } });
    expect(s.snapshot().queues.echo).toBe(0);
  });

  it("'safety': refuses at submit what cannot start now, and writes nothing", async () => {
    const s = await start({ devices: card, types: { gated, echo }, policy: 'safety' });
    expect(await s.run('echo', {})).toMatchObject({ status: 'succeeded' });
    await s.drain(); // run() can resolve before the echo batch gives its 6 GB back: safety would refuse the blocker
    await holdCard(s);
    await expect(s.submit('echo', {})).rejects.toMatchObject({ code: 'INSUFFICIENT_RESOURCES' });
    expect(s.snapshot().queues.echo).toBe(0);
  });

  it("'permissive': no VRAM checks, for development", async () => {
    const s = await start({ devices: card, types: { gated, big: { ...echo, vramGb: 20 } }, policy: 'permissive' });
    await holdCard(s);
    expect(await s.run('big', {})).toMatchObject({ status: 'succeeded' });
  });

  it('a type whose ramGb is not free waits (queue) or is refused (safety)', async () => {
    const types = { hungry: { ...echo, ramGb: tooMuchRamGb }, light: echo };
    const queued = await start({ types, maxWaitMs: 100 });
    const waiting = await queued.submit('hungry', {});
    expect(await queued.run('light', {})).toMatchObject({ status: 'succeeded' });
    expect(await queued.wait(waiting.id)).toMatchObject({ status: 'failed', error: { code: 'WAIT_TIMEOUT' } });
    const safe = await start({ types, policy: 'safety' });
    await expect(safe.submit('hungry', {})).rejects.toMatchObject({ code: 'INSUFFICIENT_RESOURCES' });
  });
});
