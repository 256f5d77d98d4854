/**
 * The tight lower bound (issue's bound + packing) and the burst wait bound hold for every
 * schedule that runs one batch per type at a time, each batch whole on one device: checked on the
 * bench's own twelve traces and on small random traces built to crowd a few devices. FIFO
 * first-fit runs several instances of a type at once, so neither binds it, and the report must
 * not say that no schedule at all can meet a wait target because of the wait bound.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cluster, Priority, TaskSpec, Trace, TypeSpec } from '../../bench/simulate/model.js';
import { lowerBound } from '../../bench/simulate/lower-bound.js';
import { markdown, type Targets } from '../../bench/simulate/report.js';
import { ABLATIONS, simulate, simulateNamed, STRATEGIES, REFERENCE_OPTIONS } from '../../bench/simulate/run.js';
import { BatchedStrategy } from '../../bench/simulate/strategies/batched.js';
import { longestWaitBound } from '../../bench/simulate/wait-bound.js';
import { CLUSTERS, makeTrace, WORKLOADS, type WorkloadName } from '../../bench/simulate/workloads.js';
import { runs } from '../support/fast-check-setup.js';

const ONE_BATCH_PER_TYPE = [...Object.keys(STRATEGIES).filter((s) => s !== 'fifo-first-fit'), ...Object.keys(ABLATIONS)] as Parameters<typeof simulateNamed>[2][];
/** Bounds are sums of quotients; allow for rounding where a schedule meets one exactly. */
const EPS = 1e-6;

describe('the simulated lower bounds', () => {
  it('is not beaten by any one-batch-per-type strategy on the twelve bench traces (seed 1)', () => {
    for (const workload of Object.keys(WORKLOADS) as WorkloadName[]) {
      for (const cluster of CLUSTERS) {
        const trace = makeTrace(workload, cluster, 1);
        // As the bench runs them: the ablations on the steady load only.
        for (const strategy of ONE_BATCH_PER_TYPE.filter((s) => workload === 'steady' || s in STRATEGIES)) {
          const r = simulateNamed(trace, cluster, strategy);
          expect(r.makespanMs, `${strategy} on ${workload}/${cluster.name}`).toBeGreaterThanOrEqual(r.lowerBound.tightMs * (1 - EPS));
          expect(r.longestWaitMs, `${strategy} on ${workload}/${cluster.name}: longest wait`).toBeGreaterThanOrEqual(r.longestWaitBound.ms * (1 - EPS));
        }
      }
    }
  }, 120_000);

  it('is not beaten on small random traces that crowd one or two devices', () => {
    const typeArb = (name: string) =>
      fc.record({
        name: fc.constant(name),
        vramMiB: fc.integer({ min: 1, max: 12 }).map((x) => x * 1000),
        loadMs: fc.integer({ min: 0, max: 20_000 }),
        unloadMs: fc.integer({ min: 0, max: 3_000 }),
        concurrency: fc.integer({ min: 1, max: 3 }),
        keepAliveMs: fc.constantFrom(0, 5_000, 300_000),
      }) as fc.Arbitrary<TypeSpec>;
    const scenario = fc
      .record({
        types: fc.tuple(typeArb('a'), typeArb('b'), typeArb('c'), typeArb('d')),
        devicesMiB: fc.constantFrom<number[]>([12_000], [16_000], [24_000], [12_000, 12_000], [16_000, 8_000]),
        raw: fc.array(
          fc.record({
            type: fc.constantFrom('a', 'b', 'c', 'd'),
            // Often in bursts (shared arrival times), which the wait bound is about.
            arrivalMs: fc.oneof(fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 0, max: 3 }).map((x) => x * 40_000)),
            durationMs: fc.integer({ min: 1, max: 60_000 }),
            priority: fc.constantFrom<Priority>('critical', 'high', 'normal', 'low'),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        quantumMs: fc.integer({ min: 0, max: 60_000 }),
        starvationMs: fc.integer({ min: 0, max: 60_000 }),
        agingMs: fc.integer({ min: 0, max: 60_000 }),
      })
      .filter((s) => s.types.every((t) => t.vramMiB <= Math.max(...s.devicesMiB)));
    fc.assert(
      fc.property(scenario, (s) => {
        const tasks: TaskSpec[] = [...s.raw].sort((x, y) => x.arrivalMs - y.arrivalMs).map((t, id) => ({ ...t, id }));
        const trace: Trace = { workload: 'random', types: [...s.types], tasks };
        const cluster: Cluster = { name: 'random', devicesMiB: s.devicesMiB };
        const bound = lowerBound(trace, cluster);
        const results = [
          ...ONE_BATCH_PER_TYPE.map((name) => simulateNamed(trace, cluster, name)),
          simulate(trace, cluster, (ctx) => new BatchedStrategy(ctx, { priorityScheduling: true, agingMs: s.agingMs, starvationMs: s.starvationMs, quantumMs: s.quantumMs })),
          simulate(trace, cluster, (ctx) => new BatchedStrategy(ctx, { ...REFERENCE_OPTIONS, quantumMs: s.quantumMs })),
        ];
        for (const r of results) {
          expect(r.makespanMs, r.strategy).toBeGreaterThanOrEqual(bound.tightMs * (1 - EPS));
          expect(r.longestWaitMs, `${r.strategy}: longest wait`).toBeGreaterThanOrEqual(r.longestWaitBound.ms * (1 - EPS));
        }
      }),
      { numRuns: runs(300) },
    );
  }, 120_000);

  it('does not bind FIFO first-fit, which runs two instances of one type at once', () => {
    // One 10 GB type, two 10 s tasks at 0, two 24 GB cards: first-fit runs them side by side.
    const spec: TypeSpec = { name: 'a', vramMiB: 10_000, loadMs: 10_000, unloadMs: 1_000, concurrency: 1, keepAliveMs: 0 };
    const trace: Trace = {
      workload: 'twin',
      types: [spec],
      tasks: [0, 1].map((id) => ({ id, type: 'a', priority: 'normal', arrivalMs: 0, durationMs: 10_000 })),
    };
    const r = simulateNamed(trace, { name: '2×24', devicesMiB: [24_000, 24_000] }, 'fifo-first-fit');
    expect(r.lowerBound.chainMs).toBe(30_000); // one load, then both tasks in one chain
    expect(r.makespanMs).toBe(20_000); // two loads in parallel, then both tasks: below the "bound"
    expect(r.ratio).toBeLessThan(1);
  });

  it('does not bind FIFO first-fit by the burst wait bound either', () => {
    // One 10 GB type on a 24 GB card, four 10 s tasks at once, one at a time per instance.
    const spec: TypeSpec = { name: 'a', vramMiB: 10_000, loadMs: 0, unloadMs: 0, concurrency: 1, keepAliveMs: 0 };
    const trace: Trace = {
      workload: 'burst',
      types: [spec],
      tasks: [0, 1, 2, 3].map((id) => ({ id, type: 'a', priority: 'normal', arrivalMs: 0, durationMs: 10_000 })),
    };
    expect(longestWaitBound(trace).ms).toBe(30_000); // three of the four run, one at a time, before the last is taken
    const r = simulateNamed(trace, { name: '1×24', devicesMiB: [24_000] }, 'fifo-first-fit');
    expect(r.longestWaitMs).toBe(10_000); // two instances side by side: the last two are taken after one task each
  });

  it('is reported as binding schedules of one batch per type, not every schedule', () => {
    const targets: Targets = {
      steadyWithin110: [],
      overReservations: 0,
      pastStarvationBound: [{ workload: 'bursts', cluster: '1×24 GB', tasks: 5, referenceTasks: 5, longestTurnWaitMs: 60_000, boundMs: 600_000, unavoidable: { ms: 900_000, type: 'chat' } }],
    };
    const text = markdown([], [], { date: 'd', seed: 1, node: 'n', boundByWorkload: {} }, targets);
    const line = text.split('\n').find((l) => l.startsWith('- bursts on 1×24 GB'))!;
    expect(line).toContain('15.0 min');
    expect(line).not.toContain('no schedule can meet it');
    expect(line).toMatch(/one batch per type/);
  });
});
