/**
 * Clusters, task types and the workload traces the bench runs. Every number here was chosen
 * before looking at any result; a trace depends only on (workload, cluster, seed).
 *
 * Task types are LLM-like families whose VRAM budget is a share of one card (a 24 GB card runs
 * an 8 GB chat model where an 80 GB card runs a 26 GB one) and whose load time grows with the
 * budget. A cluster of n cards gets n models of each family (e.g. chat-1 … chat-4: different
 * fine-tunes), because one batch per type at a time means one family alone can never fill a
 * larger cluster. Arrival rates are set from the cluster's capacity: `load` is the share of the
 * binding capacity (total VRAM·time, or the busiest type's one-batch chain) the arrivals ask for,
 * ignoring model loads, which a scheduler has to amortise.
 */
import { exponential, logNormal, pickWeighted, seededRandom } from './random.js';
import { GIB, type Cluster, type Priority, type TaskSpec, type Trace, type TypeSpec } from './model.js';

export const CLUSTERS: Cluster[] = [
  { name: '1×24 GB', devicesMiB: [24 * GIB] },
  { name: '2×24 GB', devicesMiB: [24 * GIB, 24 * GIB] },
  { name: '4×80 GB', devicesMiB: [80 * GIB, 80 * GIB, 80 * GIB, 80 * GIB] },
];

interface Family {
  name: string;
  /** Budget as a share of the smallest card. */
  cardShare: number;
  medianMs: number;
  concurrency: number;
  /** Share of the arrivals of the small-type mix. */
  weight: number;
}

const SMALL: Family[] = [
  { name: 'embed', cardShare: 0.08, medianMs: 800, concurrency: 4, weight: 0.35 },
  { name: 'rerank', cardShare: 0.12, medianMs: 1_500, concurrency: 2, weight: 0.2 },
  { name: 'chat', cardShare: 0.33, medianMs: 6_000, concurrency: 2, weight: 0.25 },
  { name: 'vision', cardShare: 0.25, medianMs: 4_000, concurrency: 1, weight: 0.12 },
  { name: 'summarize', cardShare: 0.5, medianMs: 15_000, concurrency: 2, weight: 0.08 },
];
const LARGE: Family = { name: 'large', cardShare: 0.85, medianMs: 40_000, concurrency: 1, weight: 0 };
/** Spread of task durations (sigma of the log): p90 ≈ 2.2 × median. */
const SIGMA = 0.6;
/** The library's default keepAliveMs. */
const KEEP_ALIVE_MS = 300_000;
const MINUTE = 60_000;

interface Kind {
  spec: TypeSpec;
  medianMs: number;
  weight: number;
}

function kinds(cluster: Cluster, families: Family[]): Kind[] {
  const cardMiB = Math.min(...cluster.devicesMiB);
  const replicas = cluster.devicesMiB.length;
  return families.flatMap((family) =>
    Array.from({ length: replicas }, (_, r) => {
      const vramMiB = Math.round(family.cardShare * cardMiB);
      const gb = vramMiB / GIB;
      const spec: TypeSpec = {
        name: replicas === 1 ? family.name : `${family.name}-${r + 1}`,
        vramMiB,
        loadMs: Math.round(3_000 + 2_000 * gb),
        unloadMs: Math.round(500 + 100 * gb),
        concurrency: family.concurrency,
        keepAliveMs: KEEP_ALIVE_MS,
        ...(family === LARGE ? { large: true } : {}),
      };
      return { spec, medianMs: family.medianMs, weight: family.weight / replicas };
    }),
  );
}

/** Arrivals per ms that would use all of the binding capacity (VRAM·time or one type's chain). */
function capacityRate(cluster: Cluster, mix: Kind[]): number {
  const totalMiB = cluster.devicesMiB.reduce((a, b) => a + b, 0);
  const meanMs = (k: Kind) => k.medianMs * Math.exp((SIGMA * SIGMA) / 2);
  const vramTimePerTask = mix.reduce((sum, k) => sum + (k.weight * k.spec.vramMiB * meanMs(k)) / k.spec.concurrency, 0);
  const chainRate = Math.min(...mix.map((k) => k.spec.concurrency / (k.weight * meanMs(k))));
  return Math.min(totalMiB / vramTimePerTask, chainRate);
}

class TraceBuilder {
  readonly tasks: TaskSpec[] = [];
  constructor(readonly random: () => number) {}

  add(kind: Kind, arrivalMs: number, priority: Priority = 'normal'): void {
    const durationMs = Math.max(1, Math.round(logNormal(this.random, kind.medianMs, SIGMA)));
    this.tasks.push({ id: this.tasks.length, type: kind.spec.name, priority, arrivalMs: Math.round(arrivalMs), durationMs });
  }

  /** Poisson arrivals at `perMs` from `fromMs` to `toMs`, types drawn from `mix` by weight. */
  poisson(mix: Kind[], perMs: number, fromMs: number, toMs: number, priority?: () => Priority): void {
    const weights = mix.map((k) => k.weight);
    for (let t = fromMs + exponential(this.random, 1 / perMs); t < toMs; t += exponential(this.random, 1 / perMs)) {
      this.add(mix[pickWeighted(this.random, weights)]!, t, priority?.());
    }
  }

  trace(workload: string, types: TypeSpec[]): Trace {
    const tasks = [...this.tasks].sort((a, b) => a.arrivalMs - b.arrivalMs || a.id - b.id).map((t, id) => ({ ...t, id }));
    return { workload, types, tasks };
  }
}

export const WORKLOADS = {
  /** An hour of Poisson arrivals of the small types at 90% of capacity. */
  steady(cluster: Cluster, random: () => number): Trace {
    const mix = kinds(cluster, SMALL);
    const b = new TraceBuilder(random);
    b.poisson(mix, 0.9 * capacityRate(cluster, mix), 0, 60 * MINUTE);
    return b.trace('steady', mix.map((k) => k.spec));
  },
  /** Four bursts 15 min apart, each as many tasks as 15 min of the steady load, all at once. */
  bursts(cluster: Cluster, random: () => number): Trace {
    const mix = kinds(cluster, SMALL);
    const b = new TraceBuilder(random);
    const perBurst = Math.round(0.9 * capacityRate(cluster, mix) * 15 * MINUTE);
    const weights = mix.map((k) => k.weight);
    for (let burst = 0; burst < 4; burst++) {
      for (let i = 0; i < perBurst; i++) b.add(mix[pickWeighted(random, weights)]!, burst * 15 * MINUTE);
    }
    return b.trace('bursts', mix.map((k) => k.spec));
  },
  /** The small types at 75% of capacity, plus 12 tasks per card per hour of one type that needs 85% of a card. */
  'large-among-small'(cluster: Cluster, random: () => number): Trace {
    const mix = kinds(cluster, SMALL);
    const large = kinds({ ...cluster, devicesMiB: [Math.min(...cluster.devicesMiB)] }, [LARGE])[0]!;
    const b = new TraceBuilder(random);
    b.poisson(mix, 0.75 * capacityRate(cluster, mix), 0, 60 * MINUTE);
    b.poisson([large], (12 * cluster.devicesMiB.length) / (60 * MINUTE), 0, 60 * MINUTE);
    return b.trace('large-among-small', [...mix.map((k) => k.spec), large.spec]);
  },
  /** Half an hour at 120% of capacity (queues build, so order matters), priorities 10/20/50/20% critical/high/normal/low. */
  'priority-mix'(cluster: Cluster, random: () => number): Trace {
    const mix = kinds(cluster, SMALL);
    const b = new TraceBuilder(random);
    const priorities: Priority[] = ['critical', 'high', 'normal', 'low'];
    b.poisson(mix, 1.2 * capacityRate(cluster, mix), 0, 30 * MINUTE, () => priorities[pickWeighted(random, [0.1, 0.2, 0.5, 0.2])]!);
    return b.trace('priority-mix', mix.map((k) => k.spec));
  },
} satisfies Record<string, (cluster: Cluster, random: () => number) => Trace>;

export type WorkloadName = keyof typeof WORKLOADS;

/** The trace for (workload, cluster, seed): the same for every strategy. */
export function makeTrace(workload: WorkloadName, cluster: Cluster, seed: number): Trace {
  let mixed = seed >>> 0;
  for (const ch of `${workload}/${cluster.name}`) mixed = Math.imul(mixed ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return WORKLOADS[workload](cluster, seededRandom(mixed));
}
