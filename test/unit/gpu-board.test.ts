/** A GPU type's thread fed from its pool's board: preemption keeps FIFO, a heap overflow fails every seat, an unload forgets the model. */
import { describe, expect, it } from 'vitest';
import { gatePerTest } from '../support/gate.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

describe('a preempted GPU batch with `concurrency` 2', () => {
  it('puts its tasks back in line in their original order', async () => {
    const gate = openGate();
    const s = await start({
      types: {
        bulk: { handler: fixture('checkpoint-handler.mjs'), vramGb: 16, preemptible: true, concurrency: 2 },
        urgent: { handler: fixture('gated-handler.mjs'), vramGb: 16 },
      },
      preemption: true,
      cancelGraceMs: 5000,
    });
    const bulk = [];
    for (const tag of ['b1', 'b2', 'b3']) bulk.push((await s.submit('bulk', { tag, step: tag }, { priority: 'low' })).id);
    expect((await gate.waitForStarted(2)).map((t) => t.started)).toEqual(['b1', 'b2']);
    const urgent = await s.submit('urgent', { tag: 'u' }, { priority: 'high' });
    await gate.waitForStarted(3);
    gate.release('u');
    expect(await s.wait(urgent.id)).toMatchObject({ status: 'succeeded' });
    const resumed = (await gate.waitForStarted(5)).slice(3);
    expect(resumed).toMatchObject([{ started: 'b1', resumeFrom: { step: 'b1' } }, { started: 'b2', resumeFrom: { step: 'b2' } }]);
    gate.releaseAll();
    for (const id of bulk) expect(await s.wait(id)).toMatchObject({ status: 'succeeded' });
  });
});

describe('claims ahead of a GPU type\'s thread', () => {
  it('are not sized by tasks that failed at once: after quick failures, a task behind a long one stays queued', async () => {
    const gate = openGate();
    const s = await start({ types: { t: { handler: fixture('throw-or-hold-handler.mjs'), vramGb: 8 } } });
    // Enough for the moving average of run times to forget the first task's model load.
    for (let i = 0; i < 40; i++) expect(await s.run('t', { fail: true })).toMatchObject({ status: 'failed', error: { code: 'HANDLER_ERROR' } });
    const long = await s.submit('t', { tag: 'long' });
    const behind = await s.submit('t', { tag: 'behind' });
    await gate.waitForStarted(1);
    // The batch claims for its one seat only: the task behind is not marked running while it waits.
    expect(s.snapshot()).toMatchObject({ queues: { t: 1 }, batches: [{ type: 't', running: 1 }] });
    gate.releaseAll();
    expect(await s.wait(long.id)).toMatchObject({ status: 'succeeded' });
    expect(await s.wait(behind.id)).toMatchObject({ status: 'succeeded' });
  });
});
