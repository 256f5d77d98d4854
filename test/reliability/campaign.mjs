// The SIGKILL fault campaign, shared by test/reliability/sigkill.test.ts (a few rounds in CI)
// and scripts/reliability.mjs (100+ rounds, writes bench/results/reliability.{json,md}).
//
// One round: a child process (test/fixtures/reliability-child.mjs) runs the scheduler under
// load on a fresh data directory and is SIGKILLed at a moment drawn from a seeded PRNG; a new
// child reopens the same directory (recovering what the last one left) and is killed in turn,
// 1–3 times; then this process opens the directory once more, lets everything finish and checks
// Promises 4 and 6 of DESIGN.md against what the children printed and the handler journal:
//   lost        an acknowledged task without a terminal record
//   duplicated  a task whose handler started more than once (journal), or that ended twice
//   corrupted   a succeeded task whose stored value is not the one its payload implies, or a
//               task a child saw end that later reads differently
//   wrong       a terminal state the round cannot explain (failed, but neither INTERRUPTED nor
//               a planned HANDLER_ERROR)
//   leftover    records still queued or running after the final drain
//   leakedMiB   VRAM reserved, once the final scheduler is idle, beyond the leases of its warm
//               batches (models kept loaded for keepAliveMs), plus any still reserved after close()
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';
import { TaskStore } from '../../dist/store/task-store.js';
import { expectedValue, prng, reliabilityOptions } from '../fixtures/reliability-config.mjs';

const child = fileURLToPath(new URL('../fixtures/reliability-child.mjs', import.meta.url));
/** Tasks each child submits. */
const TASKS_PER_CHILD = 40;
/** Lines a child prints when it is not killed: ready, 3 per task (ack, start, end), idle. */
const LINES_PER_CHILD = 2 + 3 * TASKS_PER_CHILD;

/**
 * Runs one child until the `killAt`-th line it prints (or its idle line), SIGKILLs it, and
 * returns every complete line it printed before dying.
 */
async function runAndKill(dataDir, journal, seed, firstN, killAt) {
  const proc = spawn(process.execPath, [child, dataDir, journal, String(seed), String(firstN), String(TASKS_PER_CHILD)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = once(proc, 'exit');
  const lines = [];
  let killed = false;
  for await (const text of createInterface({ input: proc.stdout })) {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      continue; // a line cut short by the kill
    }
    lines.push(line);
    if (!killed && (lines.length >= killAt || line.idle)) {
      proc.kill('SIGKILL'); // keep reading: lines written before the kill still arrive
      killed = true;
    }
  }
  const [code, signal] = await exited;
  if (signal !== 'SIGKILL') throw new Error(`the child exited by itself (code ${code}, signal ${signal}) instead of being killed:\n${stderr}`);
  return lines;
}

/** Journal lines per task id: how many times its handler started and finished. */
function readJournal(journal) {
  const runs = new Map();
  let text = '';
  try {
    text = readFileSync(journal, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  for (const line of text.split('\n')) {
    const [mark, id] = line.split(' ');
    if (!id) continue;
    const entry = runs.get(id) ?? { starts: 0, ends: 0 };
    if (mark === 'S') entry.starts++;
    if (mark === 'E') entry.ends++;
    runs.set(id, entry);
  }
  return runs;
}

/** One round; returns its figures and, for every failed check, a line naming the task and what went wrong. */
export async function runRound({ seed, round }) {
  const started = Date.now();
  const random = prng((seed * 1_000_003 + round) >>> 0);
  const dataDir = mkdtempSync(join(tmpdir(), 'vs-reliability-'));
  const journal = `${dataDir}.journal`;
  const kills = 1 + Math.floor(random() * 3);
  const problems = [];
  const acked = new Map(); // id → payload
  const seenEnd = new Map(); // id → status a child reported (its outcome was committed)
  const killPoints = [];
  try {
    for (let k = 0; k < kills; k++) {
      const killAt = 1 + Math.floor(random() * LINES_PER_CHILD);
      killPoints.push(killAt);
      const lines = await runAndKill(dataDir, journal, Math.floor(random() * 2 ** 31), k * TASKS_PER_CHILD, killAt);
      for (const line of lines) {
        if (line.acked) acked.set(line.acked, line.payload);
        if (line.ok) seenEnd.set(line.ok, 'succeeded');
        if (line.fail) seenEnd.set(line.fail, 'failed');
      }
    }

    // The last restart: everything left runs to its end here.
    const scheduler = await createScheduler(reliabilityOptions(dataDir, pino({ level: 'silent' })));
    const endsHere = new Map();
    const ended = (result) => endsHere.set(result.id, (endsHere.get(result.id) ?? 0) + 1);
    scheduler.on('task:succeeded', ended);
    scheduler.on('task:failed', ended);
    // drain() resolves once nothing is queued or running: every task must have a terminal result by then.
    // Idle, only warm batches (models kept loaded, keepAliveMs) may hold VRAM, and close() returns that too.
    await scheduler.drain();
    const idle = scheduler.snapshot();
    const busy = idle.batches.filter((b) => b.state !== 'warm');
    if (busy.length > 0) problems.push(`batches still busy after drain(): ${JSON.stringify(busy)}`);
    const mibOf = (gb) => Math.round(gb * 1024);
    let leakedMiB = 0;
    for (const d of idle.devices) {
      const warm = idle.batches.filter((b) => b.device === d.id && b.state === 'warm').reduce((sum, b) => sum + mibOf(b.vramGb), 0);
      leakedMiB += Math.max(0, mibOf(d.reservedGb) - warm);
    }
    let lost = 0;
    const results = [];
    for (const id of acked.keys()) {
      const result = await scheduler.result(id).catch((error) => error);
      if (result === undefined || result instanceof Error) {
        lost++;
        const state = result === undefined ? `still ${(await scheduler.get(id)).status} after drain()` : (result.code ?? String(result));
        problems.push(`acknowledged task ${id} has no terminal result: ${state}`);
      } else results.push(result);
    }
    await scheduler.close();
    leakedMiB += scheduler.snapshot().devices.reduce((sum, d) => sum + mibOf(d.reservedGb), 0);
    if (leakedMiB > 0) problems.push(`${leakedMiB} MiB reserved beyond the warm batches' leases once idle, or after close()`);

    let corrupted = 0;
    let wrong = 0;
    let interrupted = 0;
    let succeeded = 0;
    let planned = 0;
    for (const result of results) {
      if (!result) continue;
      const payload = acked.get(result.id);
      if (result.status === 'succeeded') {
        succeeded++;
        if (JSON.stringify(result.value) !== JSON.stringify(expectedValue(payload))) {
          corrupted++;
          problems.push(`task ${result.id} (n ${payload.n}) succeeded with ${JSON.stringify(result.value)}, not its payload's value`);
        }
      } else if (result.status === 'failed' && result.error?.code === 'INTERRUPTED') {
        interrupted++;
      } else if (result.status === 'failed' && result.error?.code === 'HANDLER_ERROR' && payload.fail) {
        planned++;
      } else {
        wrong++;
        problems.push(`task ${result.id} (n ${payload.n}) ended ${result.status} ${result.error?.code}: ${result.error?.message}`);
      }
      const seen = seenEnd.get(result.id);
      if (seen !== undefined && seen !== result.status) {
        corrupted++;
        problems.push(`task ${result.id} was seen ${seen} before a kill, reads ${result.status} now`);
      }
    }

    let duplicated = 0;
    for (const [id, runs] of readJournal(journal)) {
      if (runs.starts > 1 || runs.ends > 1) {
        duplicated++;
        problems.push(`task ${id} ran ${runs.starts} times (${runs.ends} ends)`);
      }
    }
    for (const [id, count] of endsHere) {
      if (count > 1 || seenEnd.has(id)) {
        duplicated++;
        problems.push(`task ${id} ended ${count} times after the last restart${seenEnd.has(id) ? ', and before a kill' : ''}`);
      }
    }

    const store = TaskStore.open({ dir: dataDir });
    const counts = store.counts();
    await store.close();
    const leftover = counts.queued + counts.running;
    if (leftover > 0) problems.push(`${counts.queued} queued and ${counts.running} running records left after the final drain`);

    return {
      round,
      kills,
      killPoints,
      acknowledged: acked.size,
      stored: counts.queued + counts.running + counts.succeeded + counts.failed + counts.cancelled,
      succeeded,
      interrupted,
      plannedFailures: planned,
      lost,
      duplicated,
      corrupted,
      wrong,
      leftover,
      leakedMiB,
      ms: Date.now() - started,
      problems,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(journal, { force: true });
  }
}
