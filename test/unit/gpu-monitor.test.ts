/** The GPU monitor: foreign VRAM use is kept out of reserves; a type's real use over its lease is flagged. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, type GpuReading } from 'vram-scheduler';
import type { GpuController } from '../../src/gpu/detect.js';
import { ownerOf, parseComputeApps, readingsOf, type Owner } from '../../src/gpu/usage.js';
import { VramLedger } from '../../src/threads/vram-ledger.js';
import { gatePerTest } from '../support/gate.js';
import { capturingLogger, fixture, start } from '../support/scheduler.js';

const GB = 1024;
const openGate = gatePerTest();

/** A source the test sets: what "nvidia-smi" reports for gpu0. */
function fakeCard(initial: GpuReading) {
  let reading = initial;
  return {
    set: (next: GpuReading) => void (reading = next),
    gpuMonitor: { intervalMs: 5, source: async () => [reading] },
  };
}

describe('GPU monitor', () => {
  it('keeps VRAM used by another process out of reach, and offers it again when that process lets go', async () => {
    const gate = openGate();
    const card = fakeCard({ usedMiB: 14 * GB, ownMiB: 0 });
    const s = await start({
      types: { big: { handler: fixture('gated-handler.mjs'), vramGb: 12 }, small: { handler: fixture('gated-handler.mjs'), vramGb: 8 } },
      gpuMonitor: card.gpuMonitor,
    });
    await vi.waitFor(() => expect(s.snapshot().devices[0]!.externalGb).toBe(14));
    await s.submit('big', { tag: 'big' }); // 12 GB > 24 - 14: waits
    await s.submit('small', { tag: 'small' }); // 8 GB fits
    expect((await gate.waitForStarted(1)).map((t) => t.started)).toEqual(['small']);
    expect(s.snapshot().queues.big).toBe(1);
    card.set({ usedMiB: 8 * GB, ownMiB: 8 * GB }); // the other process is gone
    expect((await gate.waitForStarted(2)).map((t) => t.started)).toEqual(['small', 'big']);
    expect(s.snapshot().devices[0]).toMatchObject({ externalGb: 0, reservedGb: 20 });
  });

  it("flags a type whose real use exceeds its lease, with the budget to set", async () => {
    const gate = openGate();
    const card = fakeCard({ usedMiB: 0, ownMiB: 0 });
    const { logger, lines } = capturingLogger();
    const s = await start({ types: { a: { handler: fixture('gated-handler.mjs'), vramGb: 6 } }, gpuMonitor: card.gpuMonitor, logger });
    await s.submit('a', { tag: 'a' });
    await gate.waitForStarted(1);
    card.set({ usedMiB: 9 * GB, ownMiB: 9 * GB });
    await vi.waitFor(() => expect(s.snapshot().observed.a).toEqual({ peakGb: 9, leaseGb: 6, exceeded: true, suggestedGb: 10 }));
    expect(lines.filter((l) => String(l.msg).includes('set its vramGb to 10'))).toHaveLength(1);
  });

  it('without per-process figures, counts use above our leases as foreign (the safe side)', async () => {
    const gate = openGate();
    const card = fakeCard({ usedMiB: 2 * GB }); // idle: 2 GB foreign
    const s = await start({ types: { a: { handler: fixture('gated-handler.mjs'), vramGb: 6 } }, gpuMonitor: card.gpuMonitor });
    await vi.waitFor(() => expect(s.snapshot().devices[0]!.externalGb).toBe(2));
    await s.submit('a', { tag: 'a' });
    await gate.waitForStarted(1);
    card.set({ usedMiB: 11 * GB }); // ours 9 (over its 6 GB lease): 5 GB above the lease is kept out
    await vi.waitFor(() => expect(s.snapshot().devices[0]!.externalGb).toBe(5));
    expect(s.snapshot().observed.a).toMatchObject({ peakGb: 9, exceeded: true });
  });

  it.each([[0], [1.5], ['fast']])('refuses intervalMs %j with INVALID_OPTIONS', async (intervalMs) => {
    await expect(start({ types: { a: { handler: fixture('echo-handler.mjs'), vramGb: 1 } }, gpuMonitor: { intervalMs: intervalMs as number } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTIONS,
      message: expect.stringContaining('options.gpuMonitor.intervalMs'),
    });
  });
});

describe('ledger external use', () => {
  it('blocks reserves and growth that would need it; lowering it wakes waiters', async () => {
    const ledger = VramLedger.create([{ capacityMiB: 10 }]);
    ledger.setExternal(0, 6);
    expect(ledger.free(0)).toBe(4);
    expect(ledger.tryReserve(0, 5, 1)).toBe(-1);
    const lease = ledger.tryReserve(0, 4, 1);
    expect(lease).toBeGreaterThanOrEqual(0);
    expect(ledger.resize(lease, 5)).toBe(false);
    const woken = ledger.waitForRelease(10_000, ledger.version);
    ledger.setExternal(0, 0);
    expect(await woken).toBe('ok');
    expect(ledger.resize(lease, 10)).toBe(true);
    ledger.setExternal(0, 3); // more foreign use never takes back a lease
    expect([ledger.reserved(0), ledger.free(0)]).toEqual([10, 0]);
  });
});

describe('nvidia-smi compute apps', () => {
  /** pid 42 is ours, 7 a stranger's; any other pid is not in our pid namespace. */
  const owner = (pid: number): Owner => (pid === 42 ? 'ours' : pid === 7 ? 'foreign' : 'unseen');

  it("sums this process's rows per bus id, whatever the bus id's width", () => {
    const csv = ['00000000:01:00.0, 42, 500', '00000000:01:00.0, 7, 900', '00000000:41:00.0, 42, 1200', '01:00.0, 42, 24', 'garbage', ''].join('\n');
    expect(parseComputeApps(csv, owner)).toEqual({ own: new Map([['01:00.0', 524], ['41:00.0', 1200]]), unseen: new Set() });
  });

  it('gives no per-process figures when nvidia-smi lists no process rows (inside a container it often lists none)', () => {
    expect(parseComputeApps('', owner)).toBeUndefined();
    expect(parseComputeApps('00000000:01:00.0, 42, [N/A]\n', owner)).toBeUndefined();
    // A listed stranger is a real figure: we use nothing there.
    expect(parseComputeApps('00000000:01:00.0, 7, 900\n', owner)).toEqual({ own: new Map(), unseen: new Set() });
  });

  it("gives no per-process figure for a device listing a pid we cannot see (a container shown the host's pids): our own use must not count as foreign", () => {
    const csv = ['00000000:01:00.0, 31337, 9000', '00000000:01:00.0, 7, 900', '00000000:41:00.0, 42, 1200'].join('\n');
    const apps = parseComputeApps(csv, owner);
    expect(apps).toEqual({ own: new Map([['41:00.0', 1200]]), unseen: new Set(['01:00.0']) });
    const cards = [{ busAddress: '00000000:01:00.0', memoryUsed: 9900 }, { busAddress: '00000000:41:00.0', memoryUsed: 1200 }, { busAddress: '00000000:81:00.0', memoryUsed: 0 }] satisfies GpuController[];
    // The first card falls back to the monitor's estimate (no ownMiB); the others are read as they are.
    expect(readingsOf(cards, apps)).toEqual([{ usedMiB: 9900 }, { usedMiB: 1200, ownMiB: 1200 }, { usedMiB: 0, ownMiB: 0 }]);
  });

  it('counts this process and the processes it started (a handler may run its model in a child) as ours; a pid with no /proc entry as unseen', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      expect(ownerOf(process.pid)).toBe('ours');
      expect(ownerOf(child.pid!)).toBe('ours');
      expect(ownerOf(1)).toBe('foreign');
      expect(ownerOf(process.ppid)).toBe('foreign');
      expect(ownerOf(2 ** 22 + 1)).toBe('unseen'); // above Linux's pid_max: no such process here
      expect(ownerOf(Number.NaN)).toBe('unseen');
    } finally {
      child.kill();
    }
  });

  it('counts a child of a child as ours (a model server started through a shell)', async () => {
    const spawnGrandchild = "const g = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); console.log(g.pid); process.on('SIGTERM', () => { g.kill(); process.exit(); });";
    const child = spawn(process.execPath, ['-e', spawnGrandchild], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const grandchild = Number(line);
      expect(grandchild).not.toBe(child.pid);
      expect(ownerOf(grandchild)).toBe('ours');
    } finally {
      child.kill();
    }
  });

  it('counts this process as ours when it is pid 1 (the init of a container whose pids nvidia-smi shows)', () => {
    const { pid } = process;
    Object.defineProperty(process, 'pid', { value: 1 });
    try {
      expect(ownerOf(1)).toBe('ours');
    } finally {
      Object.defineProperty(process, 'pid', { value: pid });
    }
  });
});
