// The long SIGKILL fault campaign: `npm run reliability` (builds first).
//   node scripts/reliability.mjs [rounds=100] [seed=20261122]
// Each round SIGKILLs a real scheduler process 1–3 times at random moments (seeded), restarts it
// on the same data directory, then checks every acknowledged task (test/reliability/campaign.mjs).
// Then it runs the bad-input table (test/reliability/bad-input.table.test.ts) and reads the
// 1M-queue figures of `npm run bench:load` from bench/results/load.json, if that was run.
// Writes bench/results/reliability.json (every round) and bench/results/reliability.md (the
// table); a hand-written "## Planted bugs" section at the end of the old .md is kept.
// Exits 1 if any round broke a promise or any bad input was not refused as its row says.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
const badInput = runBadInputTable();
const load = readLoad();
const report = {
  measuredAt: new Date().toISOString(),
  seed,
  node: process.version,
  machine: `${os.cpus().length} CPUs, ${os.platform()} ${os.release()}`,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  totals,
  badInput,
  load,
  rounds: results,
};

const loadCells = load
  ? [`${load.fillRssMiB} MiB filling, ${load.recoveredRssMiB} MiB recovered`, `${(load.recoverMs / 1000).toFixed(1)} s`]
  : ['not measured', 'not measured'];
const queued = load ? load.tasks.toLocaleString('en-US') : '1,000,000';
const table = [
  `| rounds | processes killed | tasks acknowledged | interrupted (INTERRUPTED) | lost | duplicated | corrupted results | leaked MiB | bad inputs refused / tried | resident memory, ${queued} queued | recovery time, ${queued} queued |`,
  '|---|---|---|---|---|---|---|---|---|---|---|',
  `| ${totals.rounds} | ${totals.killed} | ${totals.acknowledged} | ${totals.interrupted} | ${totals.lost} | ${totals.duplicated} | ${totals.corrupted} | ${totals.leakedMiB} | ${badInput.refused} / ${badInput.tried} | ${loadCells[0]} | ${loadCells[1]} |`,
].join('\n');
const loadNote = load
  ? `The large-queue columns come from \`npm run bench:load\` (bench/results/load.json), measured ${load.date} on ${load.cpus} CPUs, Node ${load.node}:
${load.tasks.toLocaleString('en-US')} tasks submitted at ${load.submitPerSec.toLocaleString('en-US')} submits/s (each committed), resident memory of the filling process,
then of a fresh process that recovered the whole queue from the store; recovery time is until \`createScheduler()\` resolved.`
  : 'The large-queue columns are not measured: run `npm run bench:load` first (it writes bench/results/load.json).';
const markdown = `# Reliability: SIGKILL campaign, bad inputs, a large queue

\`npm run reliability\` (seed ${seed}), ${report.measuredAt}, Node ${process.version}, ${report.machine}, ${report.seconds} s.
Each round SIGKILLs a scheduler process under load 1–3 times at moments drawn from the seed,
restarts it on the same data directory, then checks every acknowledged task.

${table}

Also checked: ${totals.wrong} unexplained terminal states, ${totals.leftover} records left queued or running
after the final drain, ${totals.failedRounds} failed rounds. ${totals.succeeded} tasks succeeded with the value
their payload implies; ${totals.plannedFailures} failed as planned (HANDLER_ERROR).

Bad inputs: the rows of test/reliability/bad-input.table.test.ts, run by this script: every public call
with wrong types, out-of-range budgets, strange type names, a closed scheduler, corrupted, foreign or
unwritable data directories; a row passes when the call rejects with the row's code (and a refused
submit writes nothing).${badInput.failed.length ? ` Not refused as expected: ${badInput.failed.join('; ')}.` : ''}

${loadNote}
${keptSections()}`;

mkdirSync(new URL('../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../bench/results/reliability.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(new URL('../bench/results/reliability.md', import.meta.url), markdown);
console.log(`\n${table}\n\nwrote bench/results/reliability.json and bench/results/reliability.md`);
process.exit(totals.failedRounds === 0 && badInput.failed.length === 0 ? 0 : 1);

/** Runs the bad-input table through vitest; every test in it but the follow-up checks is one bad input. */
function runBadInputTable() {
  const followUps = ['every refused submit above wrote nothing', 'close() again resolves, drain() resolves, snapshot() says stopped'];
  const dir = mkdtempSync(join(os.tmpdir(), 'vs-bad-input-'));
  const outputFile = join(dir, 'report.json');
  const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
  const root = fileURLToPath(new URL('..', import.meta.url));
  try {
    execFileSync(process.execPath, [vitest, 'run', 'test/reliability/bad-input.table.test.ts', '--reporter=json', `--outputFile=${outputFile}`], { cwd: root, stdio: 'ignore' });
  } catch {
    // a failing row exits non-zero: the report below says which
  }
  if (!existsSync(outputFile)) throw new Error('the bad-input table did not run (no vitest report)');
  const tests = JSON.parse(readFileSync(outputFile, 'utf8')).testResults.flatMap((file) => file.assertionResults);
  rmSync(dir, { recursive: true, force: true });
  const rows = tests.filter((test) => !followUps.includes(test.title));
  const failed = tests.filter((test) => test.status !== 'passed').map((test) => [...test.ancestorTitles, test.title].join(' > '));
  return { tried: rows.length, refused: rows.filter((test) => test.status === 'passed').length, followUpChecks: tests.length - rows.length, failed };
}

/** The figures of `npm run bench:load`, or null when it has not been run here. */
function readLoad() {
  const file = new URL('../bench/results/load.json', import.meta.url);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/** The hand-written "## Planted bugs" section of the previous report (to its end), kept as is. */
function keptSections() {
  const file = new URL('../bench/results/reliability.md', import.meta.url);
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const at = text.search(/^## Planted bugs/m);
  return at === -1 ? '' : `\n${text.slice(at)}`;
}
