import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Scheduler } from 'vram-scheduler';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

const echo = fixture('echo-handler.mjs');
const gated = fixture('gated-handler.mjs');

function ended(s: Scheduler): string[] {
  const log: string[] = [];
  s.on('batch:ended', (e) => log.push(`${e.type}:${e.reason}`));
  return log;
}

describe('warm models', () => {
  it('keeps an idle batch warm: its lease stays, and the next task reuses the loaded model', async () => {
    const s = await start({ types: { a: { handler: echo, vramGb: 3, keepAliveMs: 60_000 } } });
    const starts: string[] = [];
    s.on('batch:started', (e) => starts.push(e.type));
    const first = await s.run('a', { n: 1 });
    await s.drain();
    expect(s.snapshot()).toMatchObject({ devices: [{ reservedGb: 3 }], batches: [{ type: 'a', state: 'warm', running: 0 }] });
    const second = await s.run('a', { n: 2 });
    expect((second.value as { loads: number }).loads).toBe(1);
    expect((second.value as { thread: number }).thread).toBe((first.value as { thread: number }).thread);
    expect(starts).toEqual(['a']);
  });

  it('ends a warm batch after keepAliveMs: the model unloads and the lease returns', async () => {
    const s = await start({ types: { a: { handler: echo, vramGb: 3, keepAliveMs: 30 } } });
    const log = ended(s);
    await s.run('a', {});
    await once(s, 'batch:ended');
    expect(log).toEqual(['a:idle']);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('evicts idle warm batches least recently used first when another type needs the VRAM', async () => {
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 10 }],
      types: {
        older: { handler: echo, vramGb: 4, keepAliveMs: 60_000 },
        newer: { handler: echo, vramGb: 4, keepAliveMs: 60_000 },
        big: { handler: echo, vramGb: 6 },
      },
    });
    const log = ended(s);
    await s.run('older', {});
    await s.run('newer', {});
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(8);
    expect(await s.run('big', {})).toMatchObject({ status: 'succeeded' });
    await s.drain();
    expect(log).toEqual(['older:evicted', 'big:drained']);
    expect(s.snapshot().batches).toMatchObject([{ type: 'newer', state: 'warm' }]);
  });

  it('never evicts a batch that is running a task', async () => {
    const gate = new Gate();
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 10 }],
      types: { busy: { handler: gated, vramGb: 6, keepAliveMs: 60_000 }, big: { handler: echo, vramGb: 6 } },
    });
    const log = ended(s);
    await s.submit('busy', { tag: 'b' });
    await gate.waitForStarted(1);
    const big = await s.submit('big', {});
    expect((await s.get(big.id)).status).toBe('queued');
    expect(log).toEqual([]);
    gate.release('b');
    expect(await s.wait(big.id)).toMatchObject({ status: 'succeeded' });
    expect(log[0]).toBe('busy:evicted'); // evicted once idle and warm, not while it ran
    gate.close();
  });

  it('close() ends warm batches and returns their leases', async () => {
    const s = await start({ types: { a: { handler: echo, vramGb: 3, keepAliveMs: 60_000 } } });
    const log = ended(s);
    await s.run('a', {});
    await s.close();
    expect(log).toEqual(['a:stopped']);
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });
});
