/**
 * A GPU type with `threads` > 1: each thread loads its own copy of the model and runs its own
 * tasks, so the batch reserves the budget once per thread; the batch ends, and its lease returns,
 * only once every thread has unloaded its copy.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeAll, fixture, start } from '../support/scheduler.js';
import { Gate } from '../support/gate.js';
import { UnloadGate } from '../support/unload-gate.js';

afterEach(closeAll);

describe('a GPU type with threads: 2', () => {
  it('runs two tasks at once in two threads under a lease of twice the budget, in FIFO order', async () => {
    const gate = new Gate();
    try {
      const s = await start({ types: { llm: { handler: fixture('gated-handler.mjs'), vramGb: 4, threads: 2 } } });
      const leases: number[] = [];
      s.on('batch:started', (e) => leases.push(e.vramGb));
      const tasks = await Promise.all(['a', 'b', 'c'].map((tag) => s.submit('llm', { tag })));
      const [a, b] = await gate.waitForStarted(2);
      expect([a!.started, b!.started]).toEqual(['a', 'b']);
      expect(a!.thread).not.toBe(b!.thread);
      expect(leases).toEqual([8]);
      expect(s.snapshot().devices[0]!.reservedGb).toBe(8);
      gate.release('a'); // c takes a's seat
      const [, , c] = await gate.waitForStarted(3);
      expect(c!.started).toBe('c');
      gate.releaseAll();
      for (const { id } of tasks) expect(await s.wait(id)).toMatchObject({ status: 'succeeded' });
    } finally {
      gate.releaseAll();
      gate.close();
    }
  });

  it('grows the lease for a larger task once per thread, and refuses at submit what no device holds twice', async () => {
    const s = await start({ types: { llm: { handler: fixture('echo-handler.mjs'), vramGb: 4, threads: 2 } } });
    const leases: number[] = [];
    s.on('batch:started', (e) => leases.push(e.vramGb));
    expect(await s.run('llm', {}, { vramGb: 6 })).toMatchObject({ status: 'succeeded' });
    expect(leases).toEqual([12]);
    // 2 × 13 GB > 24 GB: refused, though one copy would fit.
    await expect(s.submit('llm', {}, { vramGb: 13 })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES', message: expect.stringContaining('2 threads') });
    const wide = await start({ types: { llm: { handler: fixture('echo-handler.mjs'), vramGb: 13, threads: 2 } } });
    await expect(wide.submit('llm', {})).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES', message: expect.stringContaining('lower its budget (vramGb) or its threads') });
  });

  it('unloads the model in each thread before the batch ends and its lease returns', async () => {
    const gate = new UnloadGate();
    const { ran, unloading } = gate;
    try {
      const s = await start({ types: { llm: { handler: fixture('unload-gated-handler.mjs'), vramGb: 4, threads: 2 } } });
      const ended: string[] = [];
      s.on('batch:ended', (e) => ended.push(e.reason));
      const tasks = await Promise.all(['a', 'b'].map((tag) => s.submit('llm', { tag })));
      await vi.waitFor(() => expect(ran).toHaveLength(2)); // each thread holds one: both loaded the model
      expect(new Set(ran).size).toBe(2);
      gate.releaseRuns();
      for (const { id } of tasks) expect(await s.wait(id)).toMatchObject({ status: 'succeeded' });
      await vi.waitFor(() => expect(unloading).toHaveLength(2));
      expect(new Set(unloading)).toEqual(new Set(ran));
      expect(ended).toEqual([]); // both unloads still running: the copies still hold their VRAM (pools.test.ts: the wait for each thread)
      expect(s.snapshot().devices[0]!.reservedGb).toBe(8);
      gate.releaseUnload();
      await vi.waitFor(() => expect(ended).toEqual(['drained']));
      expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
    } finally {
      gate.close();
    }
  });
});
