/**
 * Async interleavings: fc.scheduler() decides the order in which promises resolve, both the
 * test's own actions (submits, releases of gated tasks, drain(), close()) and the scheduler's
 * internal completions, which the test interposes on without changing them:
 *   - worker replies and model unloads (Pools.run / Pools.unload),
 *   - the "running" and outcome commits (TaskStore.markRunning / TaskStore.finish),
 *   - the VRAM-release wake-ups (VramLedger.waitForRelease).
 * Each completion is delivered only once it has really happened, in an order fast-check picks,
 * so every explored order is one the real system can produce. (Insert commits are left alone:
 * lmdb-js resolves them in acknowledgement order, and reordering them would invent a world the
 * store cannot produce.)
 *
 * Whatever the order: every acknowledged task ends exactly once, as the test ended it (or
 * cancelled, if a cancel() that raced it answered true; a task that never started only by
 * cancel()); cancel() answering false means the task had ended; no task starts twice; a submit
 * is either acknowledged or refused with SCHEDULER_CLOSED after close(); every drain() resolves
 * with no busy batch and nothing reserved but warm batches' leases (when types keep their models
 * warm); close() returns every lease; queued work left by close() runs after a reopen.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createScheduler, type Scheduler, type SchedulerOptions } from 'vram-scheduler';
import { TaskStore } from '../../dist/store/task-store.js';
import { Pools } from '../../dist/threads/pools.js';
import { VramLedger } from '../../dist/threads/vram-ledger.js';
import { runs } from '../support/fast-check-setup.js';
import { OutcomeGate, type Outcome } from '../support/outcome-gate.js';
import { fixture, silent, tempDir } from '../support/scheduler.js';

const EXPECTED: Record<Outcome, { status: string; code: string | undefined }> = {
  succeed: { status: 'succeeded', code: undefined },
  throw: { status: 'failed', code: 'HANDLER_ERROR' },
  exit: { status: 'failed', code: 'WORKER_CRASHED' },
};
const CANCELLED = { status: 'cancelled', code: 'CANCELLED' };
/** A run that stops making progress for this long fails, naming what it waited for. */
const STALL_MS = 15_000;

interface Plan {
  devices: number[];
  types: number[];
  tasks: { type: number; outcome: Outcome; cancel: boolean }[];
  drains: number;
  close: boolean;
  /** Batches stay warm (model and lease kept) once their queue is empty. */
  keepAlive: boolean;
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  devices: fc.oneof(fc.tuple(fc.constantFrom(8, 12)), fc.tuple(fc.constantFrom(8, 12), fc.constantFrom(8, 12))),
  types: fc.array(fc.constantFrom(3, 5, 8), { minLength: 2, maxLength: 3 }),
  tasks: fc.array(
    fc.record({ type: fc.nat(2), outcome: fc.constantFrom<Outcome>('succeed', 'succeed', 'succeed', 'throw', 'exit'), cancel: fc.nat(3).map((n) => n === 0) }),
    { minLength: 2, maxLength: 8 },
  ),
  drains: fc.integer({ min: 1, max: 2 }),
  close: fc.boolean(),
  keepAlive: fc.boolean(),
});

/** What the scheduler does on its own, each completion delivered in an order fast-check picks. */
const INTERPOSED = [
  [Pools.prototype, 'run'],
  [Pools.prototype, 'unload'],
  [TaskStore.prototype, 'markRunning'],
  [TaskStore.prototype, 'finish'],
  [VramLedger.prototype, 'waitForRelease'],
] as const;

type AnyFn = (...args: unknown[]) => Promise<unknown>;

/** Replaces each method with one that lets `s` decide when its (already settled) result is delivered; returns the undo. */
function interpose(s: fc.Scheduler, scheduled: () => void): () => void {
  const originals = INTERPOSED.map(([proto, name]) => {
    const target = proto as unknown as Record<string, AnyFn>;
    const original = target[name];
    if (typeof original !== 'function') throw new Error(`${name} is no longer a method: update INTERPOSED`);
    target[name] = function (this: unknown, ...args: unknown[]) {
      const deliver = (settled: Promise<unknown>): Promise<unknown> => {
        const delivery = s.schedule(settled, name);
        scheduled();
        return delivery;
      };
      let result: Promise<unknown>;
      try {
        result = original.apply(this, args);
      } catch (error) {
        return deliver(Promise.reject(error));
      }
      return result.then(
        (value) => deliver(Promise.resolve(value)),
        (error: unknown) => deliver(Promise.reject(error)),
      );
    };
    return () => (target[name] = original);
  });
  return () => originals.forEach((undo) => undo());
}

function options(plan: Plan, dataDir: string): SchedulerOptions {
  const handler = fixture('gated-outcome-handler.mjs');
  return {
    dataDir,
    logger: silent,
    devices: plan.devices.map((vramGb, i) => ({ id: `gpu${i}`, vramGb })),
    types: Object.fromEntries(plan.types.map((vramGb, i) => [`t${i}`, { handler, vramGb, keepAliveMs: plan.keepAlive ? 600_000 : 0 }])),
  };
}

let tags = 0;

interface PlannedTask {
  tag: string;
  type: string;
  outcome: Outcome;
  /** Whether the plan cancels it, and what cancel() answered: true, false, or not called (no id yet, or closed). */
  cancel: boolean;
  cancelled?: boolean | 'not called';
  id?: string;
  refused?: unknown;
  starts: number;
}

it('any order of submits, completions, cancels, drains and close: every acknowledged task ends exactly once, drain() leaves nothing reserved', async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), planArb, async (s, plan) => {
      const violations: string[] = [];
      let pulse: () => void = () => {};
      let activity = new Promise<void>((resolve) => (pulse = resolve));
      /** Something happened (a promise was scheduled, a task started or ended, an action settled). */
      const notify = (): void => {
        const resolve = pulse;
        activity = new Promise<void>((r) => (pulse = r));
        resolve();
      };
      const tasks: PlannedTask[] = plan.tasks.map((t) => ({ type: `t${t.type % plan.types.length}`, outcome: t.outcome, cancel: t.cancel, tag: `i${++tags}`, starts: 0 }));
      const byTag = new Map(tasks.map((t) => [t.tag, t]));
      /** Terminal events by task id, from every scheduler instance of this run. */
      const ends = new Map<string, { status: string; code: string | undefined }[]>();
      const endsOf = (t: PlannedTask): number => ends.get(t.id!)?.length ?? 0;
      const acked = (): PlannedTask[] => tasks.filter((t) => t.id !== undefined);
      let closeCalled = false;
      let pendingActions = 0;
      const open: Scheduler[] = [];

      const gate = new OutcomeGate();
      gate.onStart = (start) => {
        const task = byTag.get(start.started);
        if (!task) return void violations.push(`unknown tag ${start.started} started`);
        if (++task.starts > 1) violations.push(`${task.tag} started ${task.starts} times`);
        // Releasing a started task is one more promise whose timing fast-check picks.
        void s.schedule(Promise.resolve(), `release ${task.tag} (${task.outcome})`).then(() => gate.release(task.tag, task.outcome));
        notify();
      };
      const undo = interpose(s, notify);
      const dataDir = tempDir('vs-interleave-');

      const watch = (sched: Scheduler): Scheduler => {
        open.push(sched);
        const ended = (result: { id: string; status: string; error?: { code: string } }): void => {
          const list = ends.get(result.id) ?? [];
          list.push({ status: result.status, code: result.error?.code });
          ends.set(result.id, list);
          notify();
        };
        sched.on('task:succeeded', ended);
        sched.on('task:failed', ended);
        sched.on('task:cancelled', ended);
        return sched;
      };

      /** One of the test's own actions, run when fast-check schedules it. */
      const act = (label: string, action: () => Promise<unknown>): void => {
        pendingActions++;
        void s
          .schedule(Promise.resolve(), label)
          .then(action)
          .catch((error: unknown) => violations.push(`${label} threw ${String(error)}`))
          .finally(() => {
            pendingActions--;
            notify();
          });
      };

      const drain = (sched: Scheduler, label: string) => async () => {
        await sched.drain();
        const snapshot = sched.snapshot();
        // Only warm batches (keepAlive) may outlive drain(), and only they may hold VRAM then.
        const busy = snapshot.batches.filter((b) => !(plan.keepAlive && b.state === 'warm'));
        if (busy.length > 0) violations.push(`${label} resolved with batches ${JSON.stringify(busy)}`);
        for (const d of snapshot.devices) {
          const warm = snapshot.batches.filter((b) => b.device === d.id && b.state === 'warm').reduce((sum, b) => sum + b.vramGb, 0);
          if (busy.length === 0 && d.reservedGb !== warm) violations.push(`${label} resolved with ${d.reservedGb} GB reserved on ${d.id}, warm batches hold ${warm}`);
        }
        if (!closeCalled && Object.values(snapshot.queues).some((n) => n > 0)) violations.push(`${label} resolved with queued tasks ${JSON.stringify(snapshot.queues)}`);
      };

      /** Delivers scheduled promises, one at a time in fast-check's order, until `done()`; waits for real activity when none is scheduled. */
      const runUntil = async (done: () => boolean, what: string): Promise<void> => {
        for (;;) {
          const next = activity;
          if (s.count() > 0) {
            await s.waitOne();
            continue;
          }
          if (done()) return;
          let timer: NodeJS.Timeout | undefined;
          const stalled = await Promise.race([next.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STALL_MS)))]);
          clearTimeout(timer);
          if (stalled) throw new Error(`stalled waiting for ${what}: tasks ${JSON.stringify(tasks)}, ends ${JSON.stringify([...ends])}, snapshot ${JSON.stringify(open.at(-1)?.snapshot())}`);
        }
      };

      try {
        const first = watch(await createScheduler(options(plan, dataDir)));
        for (const task of tasks) {
          act(`submit ${task.tag}`, async () => {
            try {
              task.id = (await first.submit(task.type, { tag: task.tag })).id;
            } catch (error) {
              task.refused = error;
              if (!closeCalled || (error as { code?: string }).code !== 'SCHEDULER_CLOSED') violations.push(`${task.tag} refused: ${String(error)}`);
            }
          });
        }
        // A cancel races the task's submit, start, release and outcome commit.
        for (const task of tasks.filter((t) => t.cancel)) {
          act(`cancel ${task.tag}`, async () => {
            if (task.id === undefined || closeCalled) task.cancelled = 'not called';
            else task.cancelled = await first.cancel(task.id);
          });
        }
        for (let n = 0; n < plan.drains; n++) act(`drain ${n}`, drain(first, `drain ${n}`));
        let closed = false;
        if (plan.close) {
          act('close', async () => {
            closeCalled = true;
            await first.close();
            closed = true;
          });
        }
        await runUntil(() => pendingActions === 0 && (plan.close ? closed : acked().every((t) => endsOf(t) > 0)), plan.close ? 'close()' : 'every acknowledged task to end');
        for (const task of tasks) if (task.cancelled === false) expect(endsOf(task), `cancel(${task.tag}) said false: it had ended`).toBe(1);

        let last = first;
        if (plan.close) {
          // What ended before close() stays ended; what was queued runs after a reopen.
          last = watch(await createScheduler(options(plan, dataDir)));
          for (const task of acked().filter((t) => endsOf(t) > 0)) {
            const result = await last.result(task.id!);
            expect([{ status: result?.status, code: result?.error?.code }], `${task.tag}'s result after the restart`).toEqual(ends.get(task.id!));
          }
          act('drain after reopen', drain(last, 'drain after reopen'));
          await runUntil(() => pendingActions === 0 && acked().every((t) => endsOf(t) > 0), 'the reopened scheduler to finish');
        }

        // Every task has ended: one more drain() must resolve with nothing busy, and close() returns every lease.
        act('final drain', drain(last, 'final drain'));
        await runUntil(() => pendingActions === 0, 'the final drain()');
        act('final close', () => last.close());
        await runUntil(() => pendingActions === 0, 'the final close()');

        expect(violations).toEqual([]);
        for (const task of tasks) {
          if (task.id === undefined) {
            expect(task.refused, `${task.tag} was either acknowledged or refused`).toBeDefined();
            expect(task.starts, `refused ${task.tag} never runs`).toBe(0);
          } else {
            // cancel() answering true promises the task was queued or running then, not that it ends cancelled:
            // a running task whose reply is already in ends as its handler ended it.
            const end = ends.get(task.id);
            const possible = task.cancelled === true ? [EXPECTED[task.outcome], CANCELLED] : [EXPECTED[task.outcome]];
            expect(end?.length, `${task.tag} ended exactly once`).toBe(1);
            expect(possible, `${task.tag} ended as the test ended it (cancel() said ${String(task.cancelled)})`).toContainEqual(end![0]);
            if (task.starts === 0) expect(end![0], `${task.tag} never started: only cancel() can have ended it`).toEqual(CANCELLED);
          }
        }
        expect([...ends.keys()].every((id) => tasks.some((t) => t.id === id)), 'no terminal event for a task nobody acknowledged').toBe(true);
        for (const d of last.snapshot().devices) expect(d.reservedGb, `${d.id} holds nothing once closed`).toBe(0);
      } finally {
        gate.autoRelease('succeed');
        for (const t of tasks) if (t.starts > 0 && (t.id === undefined || endsOf(t) === 0)) gate.release(t.tag, 'succeed');
        let closedAll = false;
        void Promise.all(open.map((sched) => sched.close())).finally(() => {
          closedAll = true;
          notify();
        });
        await runUntil(() => closedAll, 'close() at the end'); // close() itself goes through interposed completions
        while (s.count() > 0) await s.waitOne();
        undo();
        gate.close();
      }
    }),
    { numRuns: runs(20) },
  );
}, 300_000);
