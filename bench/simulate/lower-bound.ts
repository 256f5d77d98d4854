/**
 * A lower bound on any schedule's makespan for a trace on a cluster, the larger of:
 * - VRAM·time: the work that arrives at or after time a cannot finish before
 *   a + (its VRAM·time demand) / (total VRAM); a task's demand is its type's budget × its
 *   duration ÷ the type's concurrency (concurrent tasks share one lease), plus one model load
 *   (budget × load time) for each type whose first task arrives at or after a;
 * - the longest type chain: one batch per type at a time (one model instance), so a type's tasks
 *   arriving at or after a need a + (their durations) ÷ concurrency, and none of them can start
 *   before the type's first arrival plus one load.
 * - packing: for a set S of types of which at most m can hold a batch at the same moment (their
 *   budgets do not fit on the devices together), at most m chains of S advance at once, so S's
 *   work arriving at or after a needs a + (the sum of those chains, loads included) ÷ m. Sets
 *   tried: for each k, the k largest budgets and the k types with the most work.
 * All take the maximum over every arrival time a (a = 0 gives the plain totals the issue names).
 * The bound is the larger of the first two; packing only raises it where budgets cannot
 * all fit at once. Unloads and reloads are ignored, so the bound stays optimistic.
 */
import type { Cluster, Trace, TypeSpec } from './model.js';
import { mostAtOnce } from './packing.js';

export interface LowerBound {
  /** The bound: max(vramTimeMs, chainMs). */
  makespanMs: number;
  vramTimeMs: number;
  chainMs: number;
  /** The type whose chain is longest. */
  chainType: string;
  /** The packing bound (0 when every set of types fits at once), its set of types and how many of them fit at once. */
  packingMs: number;
  packingTypes: string[];
  packingAtOnce: number;
  /** max(makespanMs, packingMs): the tightest of the three. */
  tightMs: number;
}

/** A set of types that cannot all hold a batch at once: at most `atOnce` of them can. */
interface CrowdedSet {
  types: string[];
  atOnce: number;
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
  const crowded = crowdedSets(trace, types, cluster);
  let packing = { ms: 0, set: undefined as CrowdedSet | undefined };
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
    if (i === 0 || tasks[i - 1]!.arrivalMs !== task.arrivalMs) {
      vramTimeMs = Math.max(vramTimeMs, task.arrivalMs + area / totalMiB);
      for (const set of crowded) {
        let work = 0;
        for (const type of set.types) work += (chainWork.get(type) ?? 0) + (loadCounted.has(type) ? types.get(type)!.loadMs : 0);
        const ms = task.arrivalMs + work / set.atOnce;
        if (ms > packing.ms) packing = { ms, set };
      }
    }
  }
  let chainMs = 0;
  let chainType = '';
  for (const [type, ms] of chains) {
    if (ms > chainMs) {
      chainMs = ms;
      chainType = type;
    }
  }
  const makespanMs = Math.max(vramTimeMs, chainMs);
  return { makespanMs, vramTimeMs, chainMs, chainType, packingMs: packing.ms, packingTypes: packing.set?.types ?? [], packingAtOnce: packing.set?.atOnce ?? 0, tightMs: Math.max(makespanMs, packing.ms) };
}

/** The candidate sets for the packing bound that cannot all run at once. */
function crowdedSets(trace: Trace, types: ReadonlyMap<string, TypeSpec>, cluster: Cluster): CrowdedSet[] {
  const work = new Map<string, number>();
  for (const task of trace.tasks) work.set(task.type, (work.get(task.type) ?? 0) + task.durationMs / types.get(task.type)!.concurrency);
  const byNeed = [...trace.types].sort((a, b) => b.vramMiB - a.vramMiB);
  const byWork = [...trace.types].sort((a, b) => (work.get(b.name) ?? 0) - (work.get(a.name) ?? 0));
  const sets = new Map<string, CrowdedSet>();
  for (const order of [byNeed, byWork]) {
    for (let k = 2; k <= order.length; k++) {
      const members: TypeSpec[] = order.slice(0, k);
      const atOnce = mostAtOnce(members.map((t) => t.vramMiB), cluster.devicesMiB);
      const types = members.map((t) => t.name).sort();
      if (atOnce < k) sets.set(types.join(), { types, atOnce });
    }
  }
  return [...sets.values()];
}
