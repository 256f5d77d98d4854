// The long SIGKILL fault campaign: `npm run reliability` (builds first).
//   node scripts/reliability.mjs [rounds=100] [seed=20261122]
// Each round SIGKILLs a real scheduler process 1–3 times at random moments (seeded), restarts it
// on the same data directory, then checks every acknowledged task (test/reliability/campaign.mjs).
// Writes bench/results/reliability.json (every round) and bench/results/reliability.md (the
// table); exits 1 if any round broke a promise.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { runRound } from '../test/reliability/campaign.mjs';

const rounds = Number(process.argv[2] ?? process.env.RELIABILITY_ROUNDS ?? 100);
const seed = Number(process.argv[3] ?? process.env.RELIABILITY_SEED ?? 20261122);
if (!Number.isSafeInteger(rounds) || rounds < 1 || !Number.isSafeInteger(seed)) {
  console.error('usage: node scripts/reliability.mjs [rounds >= 1] [seed]');
  process.exit(2);
}

const results = [];
const started = Date.now();
for (let round = 0; round < rounds; round++) {
  const result = await runRound({ seed, round });
  results.push(result);
  const flag = result.problems.length === 0 ? 'ok' : `FAILED: ${result.problems.slice(0, 3).join('; ')}`;
  console.log(`round ${round + 1}/${rounds}: ${result.kills} kills, ${result.acknowledged} acknowledged, ${result.interrupted} interrupted, ${result.ms} ms — ${flag}`);
}

const sum = (key) => results.reduce((total, r) => total + r[key], 0);
const totals = {
  rounds,
  killed: sum('kills'),
  acknowledged: sum('acknowledged'),
  stored: sum('stored'),
  succeeded: sum('succeeded'),
  interrupted: sum('interrupted'),
  plannedFailures: sum('plannedFailures'),
  lost: sum('lost'),
  duplicated: sum('duplicated'),
  corrupted: sum('corrupted'),
  wrong: sum('wrong'),
  leftover: sum('leftover'),
  leakedMiB: sum('leakedMiB'),
  failedRounds: results.filter((r) => r.problems.length > 0).length,
};
const report = {
  measuredAt: new Date().toISOString(),
  seed,
  node: process.version,
  machine: `${os.cpus().length} CPUs, ${os.platform()} ${os.release()}`,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  totals,
  rounds: results,
};

const table = [
  '| rounds | processes killed | tasks acknowledged | interrupted (INTERRUPTED) | lost | duplicated | corrupted results | leaked MiB |',
  '|---|---|---|---|---|---|---|---|',
  `| ${totals.rounds} | ${totals.killed} | ${totals.acknowledged} | ${totals.interrupted} | ${totals.lost} | ${totals.duplicated} | ${totals.corrupted} | ${totals.leakedMiB} |`,
].join('\n');
const markdown = `# Fault campaign: SIGKILL at random points

\`npm run reliability\` (seed ${seed}), ${report.measuredAt}, Node ${process.version}, ${report.machine}, ${report.seconds} s.
Each round SIGKILLs a scheduler process under load 1–3 times at moments drawn from the seed,
restarts it on the same data directory, then checks every acknowledged task.

${table}

Also checked: ${totals.wrong} unexplained terminal states, ${totals.leftover} records left queued or running
after the final drain, ${totals.failedRounds} failed rounds. ${totals.succeeded} tasks succeeded with the value
their payload implies; ${totals.plannedFailures} failed as planned (HANDLER_ERROR).
`;

mkdirSync(new URL('../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../bench/results/reliability.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(new URL('../bench/results/reliability.md', import.meta.url), markdown);
console.log(`\n${table}\n\nwrote bench/results/reliability.json and bench/results/reliability.md`);
process.exit(totals.failedRounds === 0 ? 0 : 1);
