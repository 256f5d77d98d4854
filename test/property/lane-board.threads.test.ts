/**
 * Promises 3 and 4 on the free lane's board under real concurrency: worker threads race to take
 * tasks while the main thread publishes and withdraws. Every task is taken by exactly one thread
 * or withdrawn, never both; each thread takes in publishing order. A small ring makes slots be
 * reused while threads race. The workers run the compiled board (dist/): build first.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LaneBoard } from '../../src/threads/lane-board.js';
import { runs } from '../support/fast-check-setup.js';

const hammer = fileURLToPath(new URL('../fixtures/lane-board-hammer.mjs', import.meta.url));
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

function taken(worker: Worker): Promise<number[]> {
  return new Promise((resolve, reject) => {
    worker.once('message', (message: { taken: number[] }) => resolve(message.taken));
    worker.once('error', reject);
  });
}

describe('LaneBoard under racing threads', () => {
  it('each task is taken once or withdrawn, and every thread takes in publishing order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 4 }), fc.constantFrom(4, 16), fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), async (lanes, ringSize, withdrawPattern) => {
        const tasks = 4000;
        const board = LaneBoard.create(lanes, ringSize);
        const feed = new Int32Array(new SharedArrayBuffer(8));
        const threads = Array.from({ length: lanes }, (_, lane) => new Worker(hammer, { workerData: { buffer: board.buffer, lanes, lane, feed: feed.buffer } }));
        workers.push(...threads);
        const results = threads.map(taken);
        const withdrawn = new Set<number>();
        for (let index = 0; index < tasks; index++) {
          while (!board.hasRoomFor(index)) await new Promise((resolve) => setImmediate(resolve));
          board.publish(index);
          Atomics.store(feed, 0, index + 1);
          Atomics.notify(feed, 0);
          // Withdraw an earlier task now and then: threads may be taking it at this very moment.
          const back = index - (index % 7);
          if (withdrawPattern[index % withdrawPattern.length] && board.withdraw(back)) withdrawn.add(back);
        }
        Atomics.store(feed, 1, 1);
        Atomics.notify(feed, 0);
        const perThread = await Promise.all(results);
        const seen = new Map<number, number>();
        for (const list of perThread) {
          for (let k = 1; k < list.length; k++) expect(list[k]!).toBeGreaterThan(list[k - 1]!);
          for (const index of list) seen.set(index, (seen.get(index) ?? 0) + 1);
        }
        for (let index = 0; index < tasks; index++) {
          const count = seen.get(index) ?? 0;
          expect({ index, count: count + (withdrawn.has(index) ? 1 : 0) }).toEqual({ index, count: 1 });
        }
        expect(board.next).toBe(tasks);
      }),
      { numRuns: runs(4) },
    );
  }, 60_000);
});
