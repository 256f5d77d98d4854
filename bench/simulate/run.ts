/** Runs one strategy over one trace on one cluster and measures the schedule it produced. */
import { DEFAULT_SCHEDULING } from '../../dist/scheduling-options.js';
import { PRIORITIES } from '../../dist/task.js';
import { quantumOf } from '../../dist/dispatch/quantum.js';
import { tickMs } from '../../dist/machines/supervisor.js';
import type { SimContext, Strategy } from './context.js';
import { EventLoop } from './event-loop.js';
import { SimLedger } from './ledger.js';
import { lowerBound, type LowerBound } from './lower-bound.js';
import { longestWaitBound, type WaitBound } from './wait-bound.js';
import type { Cluster, Priority, Trace } from './model.js';
import { Recorder } from './recorder.js';
import { max, percentile } from './stats.js';
import { BatchedStrategy, type BatchedOptions } from './strategies/batched.js';
import { FirstFitStrategy } from './strategies/first-fit.js';
import { SerialStrategy } from './strategies/serial.js';

/** This library with its defaults: priorities, aging, the head-of-line hold, the quantum, keep-alive. */
const SCHEDULER_OPTIONS: BatchedOptions = {
  priorityScheduling: DEFAULT_SCHEDULING.priorityScheduling,
  agingMs: DEFAULT_SCHEDULING.agingMs,
  starvationMs: DEFAULT_SCHEDULING.starvationMs,
  quantumMs: DEFAULT_SCHEDULING.quantumMs,
};

/** The reference rule: deepest queue first, several batches at once; no priorities, aging, hold, quantum or keep-alive. */
export const REFERENCE_OPTIONS: BatchedOptions = { priorityScheduling: false, agingMs: 0, starvationMs: 0, quantumMs: 0, keepAliveMs: 0 };

export const STRATEGIES = {
  scheduler: (ctx: SimContext) => new BatchedStrategy(ctx, SCHEDULER_OPTIONS),
  reference: (ctx: SimContext) => new BatchedStrategy(ctx, REFERENCE_OPTIONS),
  'fifo-first-fit': (ctx: SimContext) => new FirstFitStrategy(ctx),
  serial: (ctx: SimContext) => new SerialStrategy(ctx),
} satisfies Record<string, (ctx: SimContext) => Strategy>;

export type StrategyName = keyof typeof STRATEGIES;

/** The scheduler with one of its defaults turned off: run on the steady load to show what each costs or buys. */
export const ABLATIONS = {
  'scheduler, no quantum': (ctx: SimContext) => new BatchedStrategy(ctx, { ...SCHEDULER_OPTIONS, quantumMs: 0 }),
  'scheduler, no hold': (ctx: SimContext) => new BatchedStrategy(ctx, { ...SCHEDULER_OPTIONS, starvationMs: 0 }),
  'scheduler, no aging': (ctx: SimContext) => new BatchedStrategy(ctx, { ...SCHEDULER_OPTIONS, agingMs: 0 }),
  'scheduler, no keep-alive': (ctx: SimContext) => new BatchedStrategy(ctx, { ...SCHEDULER_OPTIONS, keepAliveMs: 0 }),
} satisfies Record<string, (ctx: SimContext) => Strategy>;

export interface WaitSummary {
  tasks: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface RunResult {
  workload: string;
  cluster: string;
  strategy: string;
  tasks: number;
  makespanMs: number;
  lowerBound: LowerBound;
  /** makespan ÷ lower bound (the issue's). */
  ratio: number;
  /** makespan ÷ the tight lower bound (packing counted). */
  tightRatio: number;
  modelLoads: number;
  /** Mean reserved VRAM ÷ total VRAM over the makespan (warm idle batches count). */
  reservedUtil: number;
  /** Mean VRAM of leases with a task loading or running ÷ total VRAM over the makespan. */
  busyUtil: number;
  waitByPriority: Partial<Record<Priority, WaitSummary>>;
  /** Longest wait (arrival → taken by a batch) of a task of the large type, if the trace has one. */
  largeMaxWaitMs: number | undefined;
  /** Longest time a type had queued work and no batch before its batch started (batched strategies only). */
  longestTurnWaitMs: number | undefined;
  longestTurnWaitType: string | undefined;
  /** Events after which the ledger invariant (reserved ≤ capacity, = sum of leases) failed: must be 0. */
  invariantViolations: number;
  violationNotes: string[];
  /** Starts decide() proposed that the ledger refused (batched strategies; the supervisor skips them the same way). */
  refusedStarts: number;
  /** Quantum yields after which the same type won the VRAM straight back (an extra model load). */
  yieldsRewon: number;
  /** Dispatches at which decide() held the line for a starved type. */
  holds: number;
  /** Why batches ended: drained, idle (keep-alive expired), yielded (quantum), evicted. */
  batchEnds: Record<string, number>;
  /** Tasks that waited longer than `starvationBoundMs`. */
  tasksPastBound: number;
  /** The longest wait of any task in this run. */
  longestWaitMs: number;
  /** A wait no one-batch-per-type schedule can avoid on this trace (see wait-bound.ts). */
  longestWaitBound: WaitBound;
  events: number;
}

/**
 * The wait the hold and the quantum imply for a type once it is top-ranked: the hold starts after
 * starvationMs; a running batch on a held device yields at its first task boundary past its
 * quantum (quantumMs, or 19× its model load when longer; counted once its load and first task
 * are done), unloads, and the next tick dispatches.
 */
export function starvationBoundMs(trace: Trace): number {
  const longestTask = max(trace.tasks.map((t) => t.durationMs));
  const longestLoad = max(trace.types.map((t) => t.loadMs));
  const longestUnload = max(trace.types.map((t) => t.unloadMs));
  const quantum = quantumOf(SCHEDULER_OPTIONS.quantumMs, longestLoad);
  return SCHEDULER_OPTIONS.starvationMs + quantum + longestLoad + longestTask + longestUnload + tickMs(SCHEDULER_OPTIONS);
}

export function simulate(trace: Trace, cluster: Cluster, make: (ctx: SimContext) => Strategy, strategyName = 'custom'): RunResult {
  const ctx: SimContext = {
    loop: new EventLoop(),
    ledger: new SimLedger(cluster.devicesMiB),
    recorder: new Recorder(),
    types: new Map(trace.types.map((t) => [t.name, t])),
  };
  const strategy = make(ctx);
  for (const task of trace.tasks) ctx.loop.at(task.arrivalMs, () => strategy.arrive(task));
  const eventLimit = 100 * trace.tasks.length + 1_000_000;
  let events = 0;
  ctx.loop.run({
    before: (at) => ctx.recorder.advance(at, ctx.ledger.totalReserved),
    after: () => {
      ctx.ledger.check(ctx.loop.now);
      if (++events > eventLimit) throw new Error(`${strategyName} on ${trace.workload}/${cluster.name}: no end after ${eventLimit} events`);
    },
  });
  const { recorder, ledger } = ctx;
  const unfinished = trace.tasks.length - recorder.starts.filter((s) => s.finishedMs !== undefined).length;
  if (unfinished > 0) throw new Error(`${strategyName} on ${trace.workload}/${cluster.name}: ${unfinished} tasks never finished`);

  const makespanMs = recorder.lastTaskEnd;
  const bound = lowerBound(trace, cluster);
  const totalMiB = cluster.devicesMiB.reduce((a, b) => a + b, 0);
  const waits = recorder.starts.map((s) => ({ priority: s.task.priority, type: s.task.type, ms: s.startedMs - s.task.arrivalMs }));
  const waitByPriority: RunResult['waitByPriority'] = {};
  for (const priority of PRIORITIES) {
    const ms = waits.filter((w) => w.priority === priority).map((w) => w.ms);
    if (ms.length > 0) waitByPriority[priority] = { tasks: ms.length, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: max(ms) };
  }
  const large = trace.types.find((t) => t.large)?.name;
  let longestTurnWaitMs: number | undefined;
  let longestTurnWaitType: string | undefined;
  for (const [type, ms] of recorder.longestTurnWait) {
    if (longestTurnWaitMs === undefined || ms > longestTurnWaitMs) {
      longestTurnWaitMs = ms;
      longestTurnWaitType = type;
    }
  }
  const pastBound = starvationBoundMs(trace);
  return {
    workload: trace.workload,
    cluster: cluster.name,
    strategy: strategyName,
    tasks: trace.tasks.length,
    makespanMs,
    lowerBound: bound,
    ratio: makespanMs / bound.makespanMs,
    tightRatio: makespanMs / bound.tightMs,
    modelLoads: recorder.loads,
    reservedUtil: recorder.reservedArea / (totalMiB * makespanMs),
    busyUtil: recorder.busyArea / (totalMiB * makespanMs),
    waitByPriority,
    largeMaxWaitMs: large === undefined ? undefined : max(waits.filter((w) => w.type === large).map((w) => w.ms)),
    longestTurnWaitMs,
    longestTurnWaitType,
    invariantViolations: ledger.violations,
    violationNotes: ledger.violationNotes,
    refusedStarts: recorder.refusedStarts,
    holds: recorder.holds,
    yieldsRewon: recorder.yieldsRewon,
    batchEnds: Object.fromEntries(recorder.batchEnds),
    tasksPastBound: waits.filter((w) => w.ms > pastBound).length,
    longestWaitMs: max(waits.map((w) => w.ms)),
    longestWaitBound: longestWaitBound(trace),
    events,
  };
}

export function simulateNamed(trace: Trace, cluster: Cluster, strategy: StrategyName | keyof typeof ABLATIONS): RunResult {
  const make = strategy in STRATEGIES ? STRATEGIES[strategy as StrategyName] : ABLATIONS[strategy as keyof typeof ABLATIONS];
  return simulate(trace, cluster, make, strategy);
}
