/** The markdown summary of a simulation run. */
import { LOAD_AMORTISATION } from '../../dist/dispatch/quantum.js';
import type { RunResult } from './run.js';
import type { WaitBound } from './wait-bound.js';

/** Simulated durations, as a person reads them. */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(2)} h`;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

export interface Targets {
  /** `ratio`: to the issue's bound; `tightRatio`: to the tight bound (packing counted); met when the tight ratio is ≤ 1.10. */
  steadyWithin110: { cluster: string; ratio: number; tightRatio: number; met: boolean }[];
  overReservations: number;
  /** `unavoidable`: the longest wait no one-batch-per-type schedule avoids on the trace. */
  pastStarvationBound: { workload: string; cluster: string; tasks: number; referenceTasks: number; longestTurnWaitMs: number | undefined; boundMs: number; unavoidable: WaitBound }[];
}

export function markdown(runs: RunResult[], ablations: RunResult[], meta: { date: string; seed: number; node: string; boundByWorkload: Record<string, Record<string, number>> }, targets: Targets): string {
  const lines: string[] = [];
  lines.push('# Schedule quality: a simulated GPU cluster', '');
  lines.push(`${meta.date}, seed ${meta.seed}, Node ${meta.node}. Simulated time (a discrete-event loop): no real waiting, so these figures do not depend on the machine. \`npm run bench:simulate -- --seed N\` reruns it.`, '');
  lines.push(`Strategies on the same traces: **scheduler** = this library (src/dispatch/rule.ts \`decide()\` with the default priorities, aging 60 s, hold after 120 s, quantum 60 s or ${LOAD_AMORTISATION}× the model load when longer, keep-alive 5 min); **reference** = \`decide()\` with equal priorities, no aging, no hold, no quantum, no keep-alive (deepest queue first); **fifo-first-fit** = each task loads its own model on the first device with room; **serial** = one task at a time. Lower bound = max(VRAM·time demand ÷ total VRAM, the longest one-batch-per-type chain), both from each arrival time on (the bound the issue names); the **tight bound** also counts packing: where budgets cannot all fit at once, at most m of a set of types run at the same moment, so their chains need (their sum) ÷ m. Ratios in the tables are to the issue's bound. The chain and packing terms assume one batch per type at a time: FIFO first-fit runs several copies of a type, so they do not bind it.`, '');
  lines.push('Workloads (bench/simulate/workloads.ts): LLM-like types whose budgets are shares of a card (8% … 50%; the large type 85%), load time 3 s + 2 s/GB, log-normal durations; a cluster of n cards has n models per family. **steady**: 1 h of Poisson arrivals at 90% of the binding capacity (VRAM·time or the busiest type\'s chain, model loads not counted); **bursts**: the same volume as four bursts 15 min apart; **large-among-small**: small types at 75% plus 12 tasks per card per hour of the large type; **priority-mix**: 30 min at 120% with 10/20/50/20% critical/high/normal/low. What the simulation simplifies is listed in bench/simulate/strategies/batched.ts.', '');
  lines.push('Wait = arrival → taken by a batch (what the scheduler records as `startedAt`; the first tasks of a batch then wait for its model load). VRAM reserved counts idle warm batches; VRAM busy counts only leases with a task loading or running.', '');
  lines.push('## Targets', '');
  for (const s of targets.steadyWithin110) {
    let why = '';
    if (!s.met) {
      const best = ablations.filter((a) => a.cluster === s.cluster).sort((a, b) => a.ratio - b.ratio)[0];
      if (best && best.ratio < s.ratio) why = `; best single change: ${best.strategy.replace('scheduler, ', '')} gives ${best.ratio.toFixed(3)}× the issue's bound (see the ablation table)`;
    }
    lines.push(`- steady load on ${s.cluster}: makespan ${s.tightRatio.toFixed(3)}× the tight bound, ${s.ratio.toFixed(3)}× the issue's bound — ${s.met ? 'met' : 'MISSED'} (target ≤ 1.10× the tight bound)${why}`);
  }
  lines.push(`- over-reservations (ledger invariant checked after every event, every run): ${targets.overReservations} — ${targets.overReservations === 0 ? 'met' : 'MISSED'}`);
  for (const p of targets.pastStarvationBound) {
    lines.push(`- ${p.workload} on ${p.cluster}: ${p.tasks} of the scheduler's tasks (reference rule: ${p.referenceTasks}) waited past ${duration(p.boundMs)} (hold 120 s + quantum: 60 s or ${LOAD_AMORTISATION}× the longest load + longest load + longest task + unload + tick); longest wait for a batch turn ${duration(p.longestTurnWaitMs)} — ${p.tasks === 0 ? 'met' : 'MISSED'}${p.unavoidable.ms > p.boundMs ? ` (no schedule that runs one batch per type at a time can meet it: ${p.unavoidable.type}'s own burst makes one of its tasks wait at least ${duration(p.unavoidable.ms)})` : ''}`);
  }
  lines.push('', '## All runs', '');
  lines.push('"Longest turn wait": the longest a type had queued work and no batch before its batch started. "Refused starts": starts `decide()` proposed that the ledger refused (the supervisor skips those the same way; not over-reservations).', '');
  lines.push('| workload | cluster | tasks | strategy | makespan ÷ bound | model loads | VRAM reserved | VRAM busy | wait p50 / p99 (all) | large type: longest wait | longest turn wait | over-reservations | refused starts |');
  lines.push('|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    const all = Object.values(r.waitByPriority);
    const p50 = all.length === 1 ? all[0]!.p50Ms : undefined;
    const p99 = all.length === 1 ? all[0]!.p99Ms : undefined;
    const waits = p50 === undefined ? 'by priority ↓' : `${duration(p50)} / ${duration(p99)}`;
    lines.push(`| ${r.workload} | ${r.cluster} | ${r.tasks} | ${r.strategy} | ${r.ratio.toFixed(2)} | ${r.modelLoads} | ${pct(r.reservedUtil)} | ${pct(r.busyUtil)} | ${waits} | ${duration(r.largeMaxWaitMs)} | ${duration(r.longestTurnWaitMs)} | ${r.invariantViolations} | ${r.refusedStarts} |`);
  }
  if (ablations.length > 0) {
    lines.push('', '## Ablation: the scheduler on the steady load with one default turned off', '');
    lines.push('| cluster | variant | makespan ÷ bound | model loads | VRAM busy | batches yielded (quantum) / evicted / drained | yields re-won at once | holds | wait p50 / p99 | longest turn wait |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const steady = [...runs.filter((r) => r.workload === 'steady' && (r.strategy === 'scheduler' || r.strategy === 'reference')), ...ablations];
    for (const cluster of [...new Set(steady.map((r) => r.cluster))]) {
      for (const r of steady.filter((x) => x.cluster === cluster)) {
        const w = r.waitByPriority.normal;
        const ends = `${r.batchEnds.yielded ?? 0} / ${r.batchEnds.evicted ?? 0} / ${r.batchEnds.drained ?? 0}`;
        lines.push(`| ${cluster} | ${r.strategy} | ${r.ratio.toFixed(2)} | ${r.modelLoads} | ${pct(r.busyUtil)} | ${ends} | ${r.yieldsRewon} | ${r.holds} | ${w ? `${duration(w.p50Ms)} / ${duration(w.p99Ms)}` : '–'} | ${duration(r.longestTurnWaitMs)} |`);
      }
    }
  }
  const byPriority = runs.filter((r) => Object.keys(r.waitByPriority).length > 1);
  if (byPriority.length > 0) {
    lines.push('', '## Waits by priority', '', 'p50 / p99 / longest wait per priority.', '');
    lines.push('| workload | cluster | strategy | critical | high | normal | low |');
    lines.push('|---|---|---|---:|---:|---:|---:|');
    for (const r of byPriority) {
      const cell = (p: 'critical' | 'high' | 'normal' | 'low') => {
        const w = r.waitByPriority[p];
        return w ? `${duration(w.p50Ms)} / ${duration(w.p99Ms)} / ${duration(w.maxMs)}` : '–';
      };
      lines.push(`| ${r.workload} | ${r.cluster} | ${r.strategy} | ${cell('critical')} | ${cell('high')} | ${cell('normal')} | ${cell('low')} |`);
    }
  }
  lines.push('', '## Lower bounds', '', "The issue's bound is the larger of VRAM·time and the longest chain; the tight bound is the larger of that and packing.", '');
  lines.push("| workload | cluster | issue's bound | VRAM·time | longest chain (type) | packing (types, how many fit at once) | tight bound | scheduler ÷ tight bound | reference ÷ tight bound |", '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  const seen = new Set<string>();
  for (const r of runs) {
    const key = `${r.workload}/${r.cluster}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const b = r.lowerBound;
    const packing = b.packingMs > 0 ? `${duration(b.packingMs)} (${b.packingTypes.join(', ')}: ${b.packingAtOnce})` : '–';
    const tight = (strategy: string) => runs.find((x) => x.workload === r.workload && x.cluster === r.cluster && x.strategy === strategy)?.tightRatio.toFixed(2) ?? '–';
    lines.push(`| ${r.workload} | ${r.cluster} | ${duration(b.makespanMs)} | ${duration(b.vramTimeMs)} | ${duration(b.chainMs)} (${b.chainType}) | ${packing} | ${duration(b.tightMs)} | ${tight('scheduler')} | ${tight('reference')} |`);
  }
  return `${lines.join('\n')}\n`;
}
