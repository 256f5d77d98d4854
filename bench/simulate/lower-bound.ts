/**
 * A lower bound on any schedule's makespan for a trace on a cluster, the larger of:
 * - VRAM·time: the work that arrives at or after time a cannot finish before
 *   a + (its VRAM·time demand) / (total VRAM); a task's demand is its type's budget × its
 *   duration ÷ the type's concurrency (concurrent tasks share one lease), plus one model load
 *   (budget × load time) for each type whose first task arrives at or after a;
 * - the longest type chain: one batch per type at a time (one model instance), so a type's tasks
 *   arriving at or after a need a + (their durations) ÷ concurrency, and none of them can start
 *   before the type's first arrival plus one load.
 * Both take the maximum over every arrival time a (a = 0 gives the plain totals the issue names).
 * Unloads, fragmentation across devices and reloads are ignored, so the bound is optimistic.
 */
import type { Cluster, Trace } from './model.js';

export interface LowerBound {
  makespanMs: number;
  vramTimeMs: number;
  chainMs: number;
  /** The type whose chain is longest. */
  chainType: string;
}

export function lowerBound(trace: Trace, cluster: Cluster): LowerBound {
  const totalMiB = cluster.devicesMiB.reduce((a, b) => a + b, 0);
  const types = new Map(trace.types.map((t) => [t.name, t]));
  const firstArrival = new Map<string, number>();
  for (const task of trace.tasks) if (!firstArrival.has(task.type)) firstArrival.set(task.type, task.arrivalMs);

  // Walk arrivals from the last to the first, accumulating the demand of the suffix.
  let vramTimeMs = 0;
  let area = 0;
  const chainWork = new Map<string, number>();
  const chains = new Map<string, number>();
  const loadCounted = new Set<string>();
  const tasks = trace.tasks;
  for (let i = tasks.length - 1; i >= 0; i--) {
    const task = tasks[i]!;
    const spec = types.get(task.type)!;
    area += (spec.vramMiB * task.durationMs) / spec.concurrency;
    if (firstArrival.get(task.type) === task.arrivalMs && !loadCounted.has(task.type)) {
      area += spec.vramMiB * spec.loadMs;
      loadCounted.add(task.type);
    }
    const work = (chainWork.get(task.type) ?? 0) + task.durationMs / spec.concurrency;
    chainWork.set(task.type, work);
    const earliest = Math.max(task.arrivalMs, firstArrival.get(task.type)! + spec.loadMs);
    // A single task also cannot end before it starts plus its own duration.
    chains.set(task.type, Math.max(chains.get(task.type) ?? 0, earliest + work, earliest + task.durationMs));
    // Tasks sharing an arrival time: take the suffix only once all of them are in it.
    if (i === 0 || tasks[i - 1]!.arrivalMs !== task.arrivalMs) vramTimeMs = Math.max(vramTimeMs, task.arrivalMs + area / totalMiB);
  }
  let chainMs = 0;
  let chainType = '';
  for (const [type, ms] of chains) {
    if (ms > chainMs) {
      chainMs = ms;
      chainType = type;
    }
  }
  return { makespanMs: Math.max(vramTimeMs, chainMs), vramTimeMs, chainMs, chainType };
}
