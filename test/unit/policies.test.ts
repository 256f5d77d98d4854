import { freemem } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

const gated = { handler: fixture('gated-handler.mjs'), vramGb: 6 };
const echo = { handler: fixture('echo-handler.mjs'), vramGb: 6 };
/** More system memory than this machine has free: never satisfiable. */
const tooMuchRamGb = Math.ceil(freemem() / 1024 ** 3) * 4 + 64;

describe('admission policies', () => {
  it("'queue' (default): a task that cannot start waits; with maxWaitMs it fails with WAIT_TIMEOUT", async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types: { gated, echo }, maxWaitMs: 50 });
    await s.submit('gated', { tag: 'blocker' });
    await gate.waitForStarted(1);
    const waiting = await s.submit('echo', {});
    expect(await s.wait(waiting.id)).toMatchObject({ status: 'failed', error: { code: 'WAIT_TIMEOUT' } });
    expect(s.snapshot().queues.echo).toBe(0);
    gate.release('blocker');
    await s.drain();
    gate.close();
  });

  it("'safety': refuses at submit what cannot start now, and writes nothing", async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types: { gated, echo }, policy: 'safety' });
    expect(await s.run('echo', {})).toMatchObject({ status: 'succeeded' });
    await s.submit('gated', { tag: 'blocker' });
    await gate.waitForStarted(1);
    await expect(s.submit('echo', {})).rejects.toMatchObject({ code: 'INSUFFICIENT_RESOURCES' });
    expect(s.snapshot().queues.echo).toBe(0);
    gate.release('blocker');
    await s.drain();
    gate.close();
  });

  it("'permissive': no VRAM checks, for development", async () => {
    const gate = new Gate();
    const s = await start({ devices: [{ id: 'gpu0', vramGb: 8 }], types: { gated, big: { ...echo, vramGb: 20 } }, policy: 'permissive' });
    await s.submit('gated', { tag: 'blocker' });
    await gate.waitForStarted(1);
    expect(await s.run('big', {})).toMatchObject({ status: 'succeeded' });
    gate.release('blocker');
    await s.drain();
    gate.close();
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
