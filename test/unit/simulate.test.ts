/**
 * The simulated-cluster bench checks itself: hand-computable traces give the expected schedule,
 * the ledger audit catches a planted over-reservation, the lower bound is what it says, and a
 * trace depends only on its seed.
 */
import { describe, expect, it } from 'vitest';
import type { SimContext, Strategy } from '../../bench/simulate/context.js';
import { EventLoop } from '../../bench/simulate/event-loop.js';
import { SimLedger } from '../../bench/simulate/ledger.js';
import { lowerBound } from '../../bench/simulate/lower-bound.js';
import { mostAtOnce, packs } from '../../bench/simulate/packing.js';
import { longestWaitBound } from '../../bench/simulate/wait-bound.js';
import type { Cluster, TaskSpec, Trace, TypeSpec } from '../../bench/simulate/model.js';
import { simulate, simulateNamed, REFERENCE_OPTIONS } from '../../bench/simulate/run.js';
import { BatchedStrategy } from '../../bench/simulate/strategies/batched.js';
import { CLUSTERS, makeTrace } from '../../bench/simulate/workloads.js';

const S = 1000;
const oneCard: Cluster = { name: '1×24', devicesMiB: [24_000] };
const type = (name: string, vramMiB: number, extra: Partial<TypeSpec> = {}): TypeSpec => ({ name, vramMiB, loadMs: 10 * S, unloadMs: 1 * S, concurrency: 1, keepAliveMs: 0, ...extra });
const tasks = (...specs: [type: string, arrivalMs: number, durationMs: number][]): TaskSpec[] =>
  specs.map(([t, arrivalMs, durationMs], id) => ({ id, type: t, priority: 'normal', arrivalMs, durationMs }));

describe('simulated cluster', () => {
  const three: Trace = { workload: 'three', types: [type('a', 24_000)], tasks: tasks(['a', 0, 5 * S], ['a', 0, 5 * S], ['a', 0, 5 * S]) };

  it('runs one type as one batch: one load, then the tasks back to back', () => {
    const r = simulateNamed(three, oneCard, 'scheduler');
    expect(r.makespanMs).toBe(25 * S); // load 10 s + 3 × 5 s
    expect(r.modelLoads).toBe(1);
    expect(r.lowerBound.makespanMs).toBe(25 * S);
    expect(r.ratio).toBe(1);
    expect(r.waitByPriority.normal).toEqual({ tasks: 3, p50Ms: 15 * S, p99Ms: 20 * S, maxMs: 20 * S }); // taken at 0, 15 s, 20 s
    expect(r.invariantViolations).toBe(0);
  });

  it('loads a model per task under FIFO first-fit, and unloads before the next one fits', () => {
    const r = simulateNamed(three, oneCard, 'fifo-first-fit');
    expect(r.modelLoads).toBe(3);
    expect(r.makespanMs).toBe(47 * S); // 3 × (10 + 5) + 2 unloads of 1 s
  });

  it('runs two types side by side when both budgets fit on the card', () => {
    const trace: Trace = { workload: 'pair', types: [type('a', 12_000), type('b', 12_000)], tasks: tasks(['a', 0, 5 * S], ['b', 0, 8 * S]) };
    expect(simulateNamed(trace, oneCard, 'scheduler').makespanMs).toBe(18 * S);
    expect(simulateNamed(trace, oneCard, 'serial').makespanMs).toBe(34 * S); // 10 + 5, unload 1, 10 + 8
  });

  it('starts the deepest queue first under the reference rule', () => {
    const trace: Trace = {
      workload: 'deepest',
      types: [type('a', 24_000), type('b', 24_000), type('c', 24_000)],
      // b takes the card at once; c (older) and a (deeper) then wait for it.
      tasks: tasks(['b', 0, 50 * S], ['c', 0, 1 * S], ['a', 1, 1 * S], ['a', 2, 1 * S]),
    };
    const r = simulateNamed(trace, oneCard, 'reference');
    // b runs 0–60 s (load + 50 s) and unloads until 61 s; then a (depth 2) beats c (depth 1): a 61–73, unload 74, c 74–85.
    expect(r.makespanMs).toBe(85 * S);
    expect(r.modelLoads).toBe(3);
  });

  describe('the quantum', () => {
    const quick = (name: string) => type(name, 24_000, { loadMs: 0, unloadMs: 0 });
    const repeat = (n: number, t: string, arrivalMs: number, priority: TaskSpec['priority']): TaskSpec[] => Array.from({ length: n }, () => ({ id: 0, type: t, priority, arrivalMs, durationMs: 10 * S }));
    const trace = (bTasks: number): Trace => ({
      workload: 'quantum',
      types: [quick('a'), quick('b')],
      // b's tasks are marked high only to read their waits apart: priorities are off in these runs.
      tasks: [...repeat(6, 'a', 0, 'normal'), ...repeat(bTasks, 'b', 1 * S, 'high')].map((t, id) => ({ ...t, id })),
    });
    const run = (t: Trace, quantumMs: number) => simulate(t, oneCard, (ctx) => new BatchedStrategy(ctx, { ...REFERENCE_OPTIONS, quantumMs }), 'quantum');

    it('ends a batch at a task boundary once spent (counted from its first finished task) while another type waits', () => {
      const r = run(trace(4), 30 * S);
      // a's first task ends at 10 s, so its quantum runs out at 40 s: it takes tasks at 0…30 s and
      // yields to b, which runs its 4 tasks (40…70 s) and drains; a then drains its last 2 at 80, 90 s.
      expect(r.batchEnds).toEqual({ yielded: 1, drained: 2 });
      expect(r.waitByPriority.high).toEqual({ tasks: 4, p50Ms: 49 * S, p99Ms: 69 * S, maxMs: 69 * S });
      expect(r.makespanMs).toBe(100 * S);
    });

    it('gives the card to the waiting type after a yield, even when the yielding type is still the deeper', () => {
      const withQuantum = run(trace(1), 30 * S);
      const without = run(trace(1), 0);
      // a yields at 40 s with 2 queued against b's 1; having yielded, it ranks after b: b starts at once.
      expect(withQuantum.batchEnds).toEqual({ yielded: 1, drained: 2 });
      expect(withQuantum.modelLoads).toBe(without.modelLoads + 1);
      expect(withQuantum.waitByPriority.high!.maxMs).toBe(39 * S);
      expect(without.waitByPriority.high!.maxMs).toBe(59 * S);
    });

    it('lasts 19× the model load when that is longer than quantumMs, so loads stay a twentieth of the card time', () => {
      const slow: Trace = {
        workload: 'slow-load',
        types: [type('a', 24_000), quick('b')],
        tasks: [...repeat(24, 'a', 0, 'normal'), ...repeat(1, 'b', 1 * S, 'high')].map((t, id) => ({ ...t, id })),
      };
      const r = run(slow, 30 * S);
      // a loads for 10 s, so its quantum is 190 s from its first finished task (20 s): it takes tasks
      // until 200 s, yields at 210 s and unloads for 1 s; b, waiting since 1 s, is taken at 211 s.
      expect(r.batchEnds).toEqual({ yielded: 1, drained: 2 });
      expect(r.waitByPriority.high!.maxMs).toBe(210 * S);
    });
  });

  it('catches a planted over-reservation', () => {
    /** A broken scheduler: reserves every task's budget on device 0 at arrival, without looking. */
    class Careless implements Strategy {
      constructor(private readonly ctx: SimContext) {}
      arrive(task: TaskSpec): void {
        const lease = this.ctx.ledger.reserve(0, this.ctx.types.get(task.type)!.vramMiB);
        this.ctx.recorder.started(task, this.ctx.loop.now);
        this.ctx.loop.after(task.durationMs, () => {
          this.ctx.recorder.finished(task, this.ctx.loop.now);
          this.ctx.ledger.release(lease);
        });
      }
    }
    const r = simulate(three, oneCard, (ctx) => new Careless(ctx), 'careless');
    expect(r.invariantViolations).toBeGreaterThan(0);
    expect(r.violationNotes[0]).toMatch(/reserved 48000 MiB/);
    // The same trace, scheduled properly, never breaks the invariant.
    expect(simulateNamed(three, oneCard, 'fifo-first-fit').invariantViolations).toBe(0);
  });

  it('audits the ledger: reserved within capacity and equal to the live leases', () => {
    const ledger = new SimLedger([100]);
    const a = ledger.reserve(0, 60);
    expect(ledger.tryReserve(0, 50)).toBe(-1);
    expect(ledger.check(0)).toBe(true);
    ledger.reserve(0, 50);
    expect(ledger.check(1)).toBe(false);
    ledger.release(a);
    expect(ledger.check(2)).toBe(true);
    ledger.reserved[0]! += 1; // reserved drifts from the sum of leases
    expect(ledger.check(3)).toBe(false);
    expect(ledger.violations).toBe(2);
  });

  it('runs events in time order, ties in the order they were scheduled', () => {
    const loop = new EventLoop();
    const seen: string[] = [];
    loop.at(20, () => seen.push('c'));
    loop.at(10, () => seen.push('a'));
    loop.at(10, () => {
      seen.push('b');
      loop.after(0, () => seen.push('b+0'));
    });
    loop.run();
    expect(seen).toEqual(['a', 'b', 'b+0', 'c']);
    expect(loop.now).toBe(20);
  });

  it('bounds the makespan from each arrival time on, not only from zero', () => {
    const trace: Trace = { workload: 'late', types: [type('a', 12_000), type('b', 24_000)], tasks: tasks(['a', 0, 5 * S], ['b', 100 * S, 5 * S]) };
    const bound = lowerBound(trace, oneCard);
    expect(bound.chainMs).toBe(115 * S); // b: arrives at 100 s, loads 10 s, runs 5 s
    expect(bound.vramTimeMs).toBe(115 * S); // from 100 s on: 24 000 MiB × 15 s ÷ 24 000 MiB
    expect(bound.chainType).toBe('b');
  });

  it('counts packing: types whose budgets cannot all fit at once take turns', () => {
    // Three 10 GB types on one 24 GB card: two fit at once, never three. Each has 60 s of work.
    const trace: Trace = {
      workload: 'crowded',
      types: [type('a', 10_000), type('b', 10_000), type('c', 10_000)],
      tasks: tasks(['a', 0, 60 * S], ['b', 0, 60 * S], ['c', 0, 60 * S]),
    };
    const bound = lowerBound(trace, oneCard);
    expect(bound.chainMs).toBe(70 * S); // one load, then 60 s
    expect(bound.vramTimeMs).toBe(87.5 * S); // 3 × 10 000 MiB × (10 s load + 60 s) ÷ 24 000 MiB
    expect(bound.packingAtOnce).toBe(2);
    expect(bound.packingTypes).toEqual(['a', 'b', 'c']);
    expect(bound.packingMs).toBe(105 * S); // 3 × (10 s load + 60 s) ÷ 2
    expect(bound.tightMs).toBe(105 * S);
    expect(bound.makespanMs).toBe(87.5 * S); // the bound leaves packing out
    // No schedule beats it: two run, the third waits for one of them.
    expect(simulateNamed(trace, oneCard, 'reference').makespanMs).toBeGreaterThanOrEqual(bound.tightMs);
  });

  it('finds how many budgets fit at once, each whole on one device', () => {
    expect(mostAtOnce([10, 10, 10], [24])).toBe(2);
    expect(mostAtOnce([10, 10, 10], [24, 24])).toBe(3);
    expect(mostAtOnce([4, 20, 20], [24])).toBe(2); // the 4 and one 20
    expect(packs([12, 12, 8, 8, 8], [24, 24])).toBe(true); // 12 + 12 | 8 + 8 + 8
    expect(packs([13, 13, 13], [24, 24])).toBe(false); // fits by sum (39 ≤ 48), not whole
    expect(mostAtOnce([30], [24, 24])).toBe(0);
  });

  it('bounds the longest wait from a burst: the shortest tasks first, concurrency at a time, after the load', () => {
    const trace: Trace = {
      workload: 'burst',
      types: [type('a', 12_000), type('b', 12_000, { concurrency: 2 })],
      // a, one at a time: the last of three is taken once two have run, at least the 10 s load + 2 s + 3 s.
      // b, two at a time: the last of four once two have run, at least (1 s + 2 s) ÷ 2 after its load.
      tasks: tasks(['a', 0, 2 * S], ['a', 0, 3 * S], ['a', 0, 4 * S], ['b', 0, 1 * S], ['b', 0, 2 * S], ['b', 0, 5 * S], ['b', 0, 6 * S]),
    };
    expect(longestWaitBound(trace)).toEqual({ ms: 15 * S, type: 'a' });
    // The two types fit side by side and the scheduler takes a's tasks in arrival order (2, 3, 4 s): it meets the bound.
    expect(simulateNamed(trace, oneCard, 'scheduler').longestWaitMs).toBe(15 * S);
    // A task taken first delays the others less when it is short: first come, first served is no bound.
    const fcfsWorse: Trace = { workload: 'order', types: [type('c', 12_000, { loadMs: 0 })], tasks: tasks(['c', 0, 3 * S], ['c', 0, 1 * S]) };
    expect(longestWaitBound(fcfsWorse).ms).toBe(1 * S);
    expect(simulateNamed(fcfsWorse, oneCard, 'scheduler').longestWaitMs).toBe(3 * S);
  });

  it('makes the same trace from the same seed, and another from another seed', () => {
    const cluster = CLUSTERS[0]!;
    const once = makeTrace('steady', cluster, 7);
    expect(makeTrace('steady', cluster, 7)).toEqual(once);
    expect(makeTrace('steady', cluster, 8).tasks).not.toEqual(once.tasks);
    expect(once.tasks.length).toBeGreaterThan(100);
    expect(once.tasks.every((t, i) => i === 0 || t.arrivalMs >= once.tasks[i - 1]!.arrivalMs)).toBe(true);
  });
});
