import { afterEach, describe, expect, it } from 'vitest';
import { getScheduler, resetScheduler, type SchedulerOptions } from 'vram-scheduler';
import { Gate } from '../support/gate.js';
import { fixture, silent, tempDir } from '../support/scheduler.js';

afterEach(resetScheduler);

const options = (): SchedulerOptions => ({
  dataDir: tempDir(),
  logger: silent,
  devices: [{ id: 'gpu0', vramGb: 8 }],
  types: { gated: { handler: fixture('gated-handler.mjs'), vramGb: 3 } },
});

describe('process singleton', () => {
  it('resolves concurrent first calls to one instance', async () => {
    const opts = options();
    const all = await Promise.all(Array.from({ length: 20 }, () => getScheduler(opts)));
    expect(new Set(all).size).toBe(1);
    expect(await getScheduler()).toBe(all[0]);
  });

  it('asks for options on the first call', async () => {
    await expect(getScheduler()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('does not keep a failed creation: the next call tries again', async () => {
    await expect(getScheduler({ ...options(), maxQueueDepth: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const scheduler = await getScheduler(options());
    expect(scheduler.snapshot().state).toBe('idle');
  });

  it('resetScheduler closes it, returns every lease, and the next call builds a new one', async () => {
    const gate = new Gate();
    const first = await getScheduler(options());
    await first.submit('gated', { tag: 'x' });
    await gate.waitForStarted(1);
    expect(first.snapshot().devices[0]!.reservedGb).toBe(3);
    const resetting = resetScheduler();
    gate.release('x');
    await resetting;
    gate.close();
    expect(first.snapshot()).toMatchObject({ state: 'stopped', devices: [{ reservedGb: 0 }] });
    const second = await getScheduler(options());
    expect(second).not.toBe(first);
  });
});

describe('process singleton during a reset', () => {
  it('a getScheduler() call made while resetScheduler() runs waits for it and opens the same data directory', async () => {
    const opts = options();
    const gate = new Gate();
    const first = await getScheduler(opts);
    await first.submit('gated', { tag: 'r' });
    await gate.waitForStarted(1);
    const resetting = resetScheduler();
    const next = getScheduler(opts);
    gate.release('r');
    await resetting;
    gate.close();
    const second = await next;
    expect(second).not.toBe(first);
    expect(second.snapshot().state).toBe('idle');
  });
});
