/**
 * Promise 1 and 6 under real concurrency: worker threads attach to one ledger and hammer it
 * with fast-check generated op sequences while the main thread keeps taking snapshots.
 * The workers run the compiled ledger (dist/): build first (`npm run build`).
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_LOCK, VramLedger, type LedgerLease, type LedgerSnapshot } from '../../src/threads/vram-ledger.js';
import { runs } from '../support/fast-check-setup.js';

const WORKERS = 4;
const ROUNDS = 20;
const workerScript = fileURLToPath(new URL('../fixtures/ledger-hammer-worker.mjs', import.meta.url));
const compiled = fileURLToPath(new URL('../../dist/threads/vram-ledger.js', import.meta.url));
const source = fileURLToPath(new URL('../../src/threads/vram-ledger.ts', import.meta.url));

type Op =
  | { op: 'reserve'; device: number; mib: number }
  | { op: 'resize'; pick: number; mib: number }
  | { op: 'release'; pick: number }
  | { op: 'snapshot' };
interface Reply { type: string; leases?: LedgerLease[]; violations?: string[]; stats?: Record<string, number>; message?: string }

const mib = fc.integer({ min: 0, max: 1024 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('reserve' as const), device: fc.nat(2), mib }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('resize' as const), pick: fc.nat(64), mib }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(64) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'snapshot' as const }) },
);
const capacities = fc.array(fc.integer({ min: 0, max: 4096 }), { minLength: 1, maxLength: 3 });
const createLedger = (caps: number[], slots: number) => VramLedger.create(caps.map((capacityMiB) => ({ capacityMiB })), { slots });

/** The next message of `type` from `worker`; rejects if the worker reports an error or exits. */
function next(worker: Worker, type: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Reply) => {
      if (msg.type !== type && msg.type !== 'error') return;
      cleanup();
      if (msg.type === 'error') reject(new Error(`worker failed: ${msg.message}`));
      else resolve(msg);
    };
    const onError = (error: Error) => (cleanup(), reject(error));
    const onExit = (code: number) => (cleanup(), reject(new Error(`worker exited (${code}) before '${type}'`)));
    const cleanup = () => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** Resolves once `worker` reports it has done at least `passes` passes over its ops. */
function progress(worker: Worker, passes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Reply & { pass?: number }) => {
      if (msg.type === 'error') reject(new Error(`worker failed: ${msg.message}`));
      else if (msg.type !== 'progress' || msg.pass! < passes) return;
      worker.off('message', onMessage).off('error', reject);
      resolve();
    };
    worker.on('message', onMessage).on('error', reject);
  });
}

/** Promise 1 on a snapshot taken under the lock. */
function checkInvariants(snap: LedgerSnapshot): void {
  snap.devices.forEach((d, device) => {
    const sum = snap.leases.filter((l) => l.device === device).reduce((s, l) => s + l.mib, 0);
    expect(d.reservedMiB).toBeLessThanOrEqual(d.capacityMiB);
    expect(d.reservedMiB).toBe(sum);
  });
}

/** Snapshots and checks in the main thread, yielding to the event loop between batches, until `until` settles. */
async function watch(ledger: VramLedger, until: Promise<unknown>): Promise<number> {
  let settled = false;
  const done = until.finally(() => (settled = true));
  let snapshots = 0;
  while (!settled) {
    for (let k = 0; k < 20; k++, snapshots++) checkInvariants(ledger.snapshot());
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done; // rethrow a worker failure
  return snapshots;
}

const workers: Worker[] = [];
/** A run takes tens of ms: keep the config's 30 s for CI, scale it up for FC_RUNS campaigns. */
const timeoutFor = (numRuns: number) => Math.max(30_000, numRuns * 250);

/**
 * Posts each worker its ops, waits until all are parked on a start gate, then opens it so they
 * hit the ledger at the same moment. Returns (boxed, so awaiting does not flatten it) the promise
 * of their 'done' replies.
 */
async function start(ledger: VramLedger, opsPerWorker: Op[][]): Promise<{ done: Promise<Reply[]> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const ready = Promise.all(workers.map((w) => next(w, 'ready')));
  const done = Promise.all(workers.map((w) => next(w, 'done')));
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection while we await `ready`
  workers.forEach((w, i) => w.postMessage({ type: 'run', buffer: ledger.buffer, gate: gate.buffer, tag: i, ops: opsPerWorker[i], rounds: ROUNDS }));
  await ready;
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  return { done };
}

beforeAll(async () => {
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
    throw new Error(`${compiled} is missing or older than its source: run \`npx tsc -p tsconfig.build.json\` first`);
  }
  for (let w = 0; w < WORKERS; w++) workers.push(new Worker(workerScript));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

describe('VramLedger across worker threads', () => {
  it(`${WORKERS} workers hammering one ledger never over-reserve, and everything returns`, async () => {
    let totalSnapshots = 0;
    const totals = { reserved: 0, refused: 0, growRefused: 0, released: 0 };
    await fc.assert(
      fc.asyncProperty(
        capacities,
        fc.integer({ min: 4, max: 64 }),
        fc.array(fc.array(op, { minLength: 20, maxLength: 150 }), { minLength: WORKERS, maxLength: WORKERS }),
        async (caps, slots, opsPerWorker) => {
          const ledger = createLedger(caps, slots);
          const { done } = await start(ledger, opsPerWorker);
          totalSnapshots += await watch(ledger, done);
          const replies = await done;

          // Every worker's view agreed with its own snapshots; together they own exactly the live leases.
          for (const r of replies) {
            expect(r.violations).toEqual([]);
            for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats![k]!;
          }
          const snap = ledger.snapshot();
          checkInvariants(snap);
          const owned = replies.flatMap((r) => r.leases!).sort((a, b) => a.lease - b.lease);
          expect(snap.leases).toEqual(owned);

          // Promise 6: each worker releases what it holds, and the ledger is empty again.
          const released = Promise.all(workers.map((w) => next(w, 'released')));
          workers.forEach((w) => w.postMessage({ type: 'release' }));
          for (const r of await released) expect(r.violations).toEqual([]);
          const after = ledger.snapshot();
          expect(after.leases).toEqual([]);
          expect(after.devices.map((d) => d.reservedMiB)).toEqual(caps.map(() => 0));
        },
      ),
      { numRuns: runs(20) },
    );
    expect(totalSnapshots).toBeGreaterThan(0);
    // The runs did contend: some reserves and grows were refused, not just accepted.
    expect(totals.reserved).toBeGreaterThan(0);
    expect(totals.refused).toBeGreaterThan(0);
    expect(totals.growRefused).toBeGreaterThan(0);
  }, timeoutFor(runs(20)));

  it('a worker terminated mid-hammer is repaired by recoverThread + releaseTagged while the others keep going', async () => {
    await fc.assert(
      fc.asyncProperty(
        capacities,
        fc.array(op, { minLength: 20, maxLength: 100 }),
        fc.array(fc.array(op, { minLength: 20, maxLength: 100 }), { minLength: WORKERS, maxLength: WORKERS }),
        async (caps, doomedOps, opsPerWorker) => {
          const ledger = createLedger(caps, 64);
          const doomed = new Worker(workerScript);
          const doomedThread = doomed.threadId; // reads -1 once it has exited: capture it now
          const doomedTag = WORKERS;
          let done: Promise<Reply[]>;
          try {
            const passes = progress(doomed, 64);
            doomed.postMessage({ type: 'forever', buffer: ledger.buffer, tag: doomedTag, ops: doomedOps });
            await passes; // it has demonstrably been working the ledger for a while
            ({ done } = await start(ledger, opsPerWorker));
          } finally {
            // Killed anywhere in its loop, maybe holding the lock, while the others hammer on.
            await doomed.terminate();
          }
          ledger.recoverThread(doomedThread); // before the main thread takes the lock itself
          expect(Atomics.load(new Int32Array(ledger.buffer), LEDGER_LOCK)).not.toBe(doomedThread + 1);
          ledger.releaseTagged(doomedTag);
          checkInvariants(ledger.snapshot());
          expect(ledger.snapshot().leases.filter((l) => l.tag === doomedTag)).toEqual([]);

          await watch(ledger, done);
          const replies = await done;
          for (const r of replies) expect(r.violations).toEqual([]);
          expect(ledger.snapshot().leases).toEqual(replies.flatMap((r) => r.leases!).sort((a, b) => a.lease - b.lease));
          const released = Promise.all(workers.map((w) => next(w, 'released')));
          workers.forEach((w) => w.postMessage({ type: 'release' }));
          await released;
          expect(ledger.snapshot().devices.map((d) => d.reservedMiB)).toEqual(caps.map(() => 0));
        },
      ),
      { numRuns: runs(10) },
    );
  }, timeoutFor(runs(10)));
});
