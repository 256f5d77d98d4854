import { afterEach, describe, expect, it } from 'vitest';
import type { Scheduler } from 'vram-scheduler';
import { MAX_CLAIM_AHEAD } from '../../src/dispatch/claim-ahead.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

const echo = fixture('echo-handler.mjs');
const SMALL = ['s1', 's2', 's3', 's4'];
/**
 * Queued per small type from the start. A batch claims up to MAX_CLAIM_AHEAD tasks beyond its
 * thread, and those leave the queue: 30 more stay queued, so no small batch runs dry (and goes
 * warm, evictable) while the replacements for its started tasks are still being written.
 */
const QUEUED = MAX_CLAIM_AHEAD + 1 + 30;
/** Small tasks in all: those queued from the start, then about 600 more streamed in as others start. */
const STREAM = SMALL.length * QUEUED + 600;

/**
 * Four 2 GB types stream without pause on a 24 GB card (each started task is replaced by a new
 * one, QUEUED stay queued per type, up to `stream` small tasks in all, fewer if the large one starts
 * first), so a 20 GB type never fits beside them: two of their batches would have to end at once.
 * Returns how many small tasks started before the large one did, and how long the large one waited.
 */
async function largeAmongSmall(s: Scheduler, stream: number): Promise<{ smallBefore: number; submittedBefore: number; waitedMs: number; reasons: string[] }> {
  let submitted = 0;
  let smallStarted = 0;
  let smallBefore = -1;
  let submittedBefore = -1;
  const reasons: string[] = [];
  s.on('batch:ended', (e) => reasons.push(`${e.type}:${e.reason}`));
  const more = (type: string) => {
    if (submitted < stream && submittedBefore === -1) {
      submitted++;
      void s.submit(type, {});
    }
  };
  s.on('task:started', (e) => {
    if (e.type === 'large') {
      smallBefore = smallStarted;
      submittedBefore = submitted;
    }
    else {
      smallStarted++;
      more(e.type);
    }
  });
  for (const type of SMALL) for (let i = 0; i < QUEUED; i++) more(type);
  await new Promise<void>((resolve) => s.once('task:started', () => resolve()));
  const { id } = await s.submit('large', {});
  const result = await s.wait(id);
  await s.drain();
  return { smallBefore, submittedBefore, waitedMs: result.startedAt! - result.queuedAt, reasons };
}

const types = {
  s1: { handler: echo, vramGb: 2 },
  s2: { handler: echo, vramGb: 2 },
  s3: { handler: echo, vramGb: 2 },
  s4: { handler: echo, vramGb: 2 },
  large: { handler: echo, vramGb: 20 },
};

describe('no starvation of a large model by a stream of small ones', () => {
  it('the plain deepest-first rule starves the 20 GB type until the stream stops', async () => {
    const s = await start({ types, maxQueueDepth: 10_000, agingMs: 0, starvationMs: 0, quantumMs: 0 });
    const { smallBefore, submittedBefore, waitedMs } = await largeAmongSmall(s, STREAM);
    expect(submittedBefore).toBe(STREAM); // it started only once the stream had stopped
    console.info(`without the hold: large waited ${waitedMs} ms, behind ${smallBefore} of ${STREAM} small tasks`);
  });

  it('aging, the hold and the quantum start it while the stream still runs', async () => {
    const s = await start({ types, maxQueueDepth: 10_000, agingMs: 20, starvationMs: 40, quantumMs: 30 });
    // A stream long enough that a loaded machine (a slow model load lengthens the quantum) still
    // sees the large type start inside it; it stops once the large one has started.
    const { smallBefore, submittedBefore, waitedMs, reasons } = await largeAmongSmall(s, 20 * STREAM);
    // It started while the stream still ran (the plain rule above waits for its end). How far
    // into the stream depends on the machine: the quantum lasts at least 19× the model's load.
    expect(submittedBefore).toBeLessThan(20 * STREAM);
    expect(reasons.some((r) => r.endsWith(':yielded'))).toBe(true);
    console.info(`with the hold: large waited ${waitedMs} ms, behind ${smallBefore} small tasks`);
  });

  it('counts the quantum from the first finished task, so a long model load does not use it up', async () => {
    const s = await start({
      types: { slow: { handler: fixture('slow-load-handler.mjs'), vramGb: 16 }, other: { handler: echo, vramGb: 16 } },
      agingMs: 0, starvationMs: 0, quantumMs: 400,
    });
    const started: string[] = [];
    s.on('task:started', (e) => started.push(e.type));
    await s.submit('slow', {});
    await s.submit('slow', {});
    await s.submit('other', {});
    await s.drain();
    expect(started).toEqual(['slow', 'slow', 'other']);
  });
});
