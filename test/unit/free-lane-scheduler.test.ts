/**
 * The free lane's board through the scheduler's API: a long task keeps its thread while the
 * other threads run more tasks than the board's ring holds, so its board slot is reused; a hard
 * stop (cancel past the grace period) or a crash must still find and end it.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CLAIM_AHEAD } from '../../src/dispatch/claim-ahead.js';
import { OutcomeGate } from '../support/outcome-gate.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

let gate: OutcomeGate | undefined;
afterEach(async () => {
  gate?.autoRelease('succeed');
  await closeAll();
  gate?.close();
  gate = undefined;
});

const types = {
  held: { handler: fixture('gated-outcome-handler.mjs'), gpu: false },
  quick: { handler: fixture('echo-handler.mjs'), gpu: false },
};
/** More than the board's ring holds for two threads (2 × (2 + MAX_CLAIM_AHEAD), rounded up to a power of two). */
const PAST_THE_RING = 2 ** Math.ceil(Math.log2(2 * (2 + MAX_CLAIM_AHEAD))) + 100;

async function runQuickTasks(s: Awaited<ReturnType<typeof start>>): Promise<void> {
  const ids = await Promise.all(Array.from({ length: PAST_THE_RING }, (_, n) => s.submit('quick', { n })));
  const results = await Promise.all(ids.map(({ id }) => s.wait(id)));
  expect(results.every((r) => r.status === 'succeeded')).toBe(true);
}

describe('the free lane, once a long task\'s board slot was reused', () => {
  it('a cancel past the grace period still terminates the long task\'s thread', async () => {
    gate = new OutcomeGate();
    const s = await start({ types, freeLaneThreads: 2, cancelGraceMs: 50, maxQueueDepth: 2 * PAST_THE_RING });
    const started = gate.nextStart();
    const held = await s.submit('held', { tag: 'held', ignoreAbort: true });
    await started;
    await runQuickTasks(s);
    expect(await s.cancel(held.id)).toBe(true);
    expect(await s.wait(held.id)).toMatchObject({ status: 'cancelled' });
  }, 10_000);

  it('a crash of the long task\'s thread fails that task', async () => {
    gate = new OutcomeGate();
    const s = await start({ types, freeLaneThreads: 2, maxQueueDepth: 2 * PAST_THE_RING });
    const started = gate.nextStart();
    const held = await s.submit('held', { tag: 'held' });
    await started;
    await runQuickTasks(s);
    gate.release('held', 'exit');
    expect(await s.wait(held.id)).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
  }, 10_000);
});

describe('the free lane, claiming ahead per type', () => {
  it("does not claim a slow type's tasks ahead on a quick type's run times", async () => {
    gate = new OutcomeGate();
    const s = await start({ types, freeLaneThreads: 2, maxQueueDepth: 2 * PAST_THE_RING });
    await runQuickTasks(s); // quick tasks take well under a commit: that type claims far ahead
    const heldStarts: string[] = []; // task:started comes once the claim (the "running" mark) commits
    s.on('task:started', (e) => void (e.type === 'held' && heldStarts.push(e.id)));
    const bothThreadsHold = new Promise<void>((resolve) => (gate!.onStart = () => gate!.started.length === 2 && resolve()));
    const held = await Promise.all(Array.from({ length: 20 }, (_, n) => s.submit('held', { tag: `held-${n}` })));
    await bothThreadsHold;
    // A type with no run time yet claims none ahead: two marked running, one per thread, 18 queued.
    expect(heldStarts).toHaveLength(2);
    expect(s.snapshot().queues.held).toBe(18);
    gate.autoRelease('succeed');
    for (const { started } of gate.started) gate.release(started);
    const results = await Promise.all(held.map(({ id }) => s.wait(id)));
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
  }, 10_000);
});

describe('the free lane, for what a thread cannot be sent or has not started', () => {
  it.each([1, 3])('a cancel while the thread (of %i) still loads the model reaches the handler\'s ctx.signal', async (threads) => {
    const loads = new BroadcastChannel('vram-scheduler-test-load-gate');
    try {
      const loading = new Promise((resolve) => (loads.onmessage = resolve));
      // A long grace: only the handler seeing its ctx.signal abort ends the task within the test's time.
      const s = await start({ types: { slow: { handler: fixture('load-gated-handler.mjs'), gpu: false } }, freeLaneThreads: threads, cancelGraceMs: 60_000 });
      const { id } = await s.submit('slow', {});
      await loading; // the thread took the task and is loading the model
      expect(await s.cancel(id)).toBe(true);
      loads.postMessage({ load: true });
      expect(await s.wait(id)).toMatchObject({ status: 'cancelled' });
    } finally {
      loads.close();
    }
  }, 5_000);
});
