/**
 * `npm run bench:simulate [-- --seed N]`: schedule quality on a simulated GPU cluster. Runs every
 * workload on every cluster under each strategy (the same trace for all of them), checks the
 * VRAM ledger invariant after every event, and writes bench/results/simulate.json and .md.
 * See bench/simulate/ for the parts; strategies/batched.ts says what the simulation simplifies.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { markdown, duration, type Targets } from './simulate/report.js';
import { ABLATIONS, simulateNamed, starvationBoundMs, STRATEGIES, type RunResult } from './simulate/run.js';
import { CLUSTERS, makeTrace, WORKLOADS, type WorkloadName } from './simulate/workloads.js';

const { values: args } = parseArgs({ options: { seed: { type: 'string', default: '1' }, out: { type: 'string', default: 'bench/results' } } });
const seed = Number(args.seed);
if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${args.seed}`);

const runs: RunResult[] = [];
const ablations: RunResult[] = [];
const boundByWorkload: Record<string, Record<string, number>> = {};
const started = performance.now();
for (const workload of Object.keys(WORKLOADS) as WorkloadName[]) {
  for (const cluster of CLUSTERS) {
    const trace = makeTrace(workload, cluster, seed);
    (boundByWorkload[workload] ??= {})[cluster.name] = starvationBoundMs(trace);
    const strategies = [...Object.keys(STRATEGIES), ...(workload === 'steady' ? Object.keys(ABLATIONS) : [])] as Parameters<typeof simulateNamed>[2][];
    for (const strategy of strategies) {
      const result = simulateNamed(trace, cluster, strategy);
      (strategy in STRATEGIES ? runs : ablations).push(result);
      console.log(`${workload.padEnd(18)} ${cluster.name.padEnd(8)} ${strategy.padEnd(25)} ${result.ratio.toFixed(2)}× bound  loads ${String(result.modelLoads).padStart(5)}  busy ${Math.round(result.busyUtil * 100)}%  violations ${result.invariantViolations}`);
    }
  }
}

const ours = runs.filter((r) => r.strategy === 'scheduler');
const targets: Targets = {
  steadyWithin110: ours.filter((r) => r.workload === 'steady').map((r) => ({ cluster: r.cluster, ratio: r.ratio, tightRatio: r.tightRatio, met: r.tightRatio <= 1.1 })),
  overReservations: [...runs, ...ablations].reduce((sum, r) => sum + r.invariantViolations, 0),
  pastStarvationBound: ours.map((r) => ({
    workload: r.workload,
    cluster: r.cluster,
    tasks: r.tasksPastBound,
    referenceTasks: runs.find((x) => x.strategy === 'reference' && x.workload === r.workload && x.cluster === r.cluster)!.tasksPastBound,
    longestTurnWaitMs: r.longestTurnWaitMs, boundMs: boundByWorkload[r.workload]![r.cluster]!,
    unavoidable: r.longestWaitBound,
  })),
};
const meta = { date: new Date().toISOString(), seed, node: process.version, boundByWorkload };
mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, 'simulate.json'), `${JSON.stringify({ ...meta, targets, runs, ablations }, null, 2)}\n`);
writeFileSync(join(args.out, 'simulate.md'), markdown(runs, ablations, meta, targets));
console.log(`\n${runs.length + ablations.length} runs in ${duration(performance.now() - started)} of real time; wrote ${join(args.out, 'simulate.json')} and simulate.md`);
