// `npm run bench`: what the scheduler costs per task compared with raw Piscina.
//
// The same N tasks, the same thread count T and the same handler work (bench/work.mjs) go through:
//   raw-piscina     new Piscina({ maxThreads: T, minThreads: T, atomics: 'disabled' }), pool.run()
//   sched-free      the scheduler's free lane (gpu: false, freeLaneThreads: T), submit() then wait()
//   sched-gpu       one GPU type with concurrency T on one simulated device (one thread, T tasks at once)
// each through an in-flight window of W tasks (at most W submitted and not yet finished), after a
// warm-up. Every scheduler task is durably written to LMDB (submit resolves after the commit).
//
// Latency is submit → start: the time from the call (pool.run / submit) until the task starts.
// "worker" = when the task's code began in its worker thread (it returns performance.timeOrigin +
// performance.now(), comparable with the main thread's clock); "event" = when the scheduler emitted
// task:started. With a window W, p50 is dominated by the W - 1 tasks ahead in line (≈ W / rate).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Piscina } from 'piscina';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';
import { clock } from './work.mjs';

const HELP = `Usage: npm run bench -- [--tasks N] [--threads T] [--window W] [--warmup K] [--cpu-ms MS] [--max-s S]

  --tasks N     tasks per contender and round (default 20000)
  --threads T   worker threads / concurrency (default 2)
  --window W    tasks in flight at most (default 1000)
  --warmup K    untimed tasks per contender before each timed run (default 500)
  --cpu-ms MS   CPU per task in the second round (default 1; 0 skips the round)
  --max-s S     time cap per timed run (default 15): at the cap the run counts the tasks that
                finished, is marked "capped", and the contender is closed with its window still
                in flight (keeps the whole bench under ~2 minutes however slow a contender is)

Writes bench/results/throughput.json.`;

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    threads: { type: 'string', default: '2' },
    window: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '500' },
    'cpu-ms': { type: 'string', default: '1' },
    'max-s': { type: 'string', default: '15' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const options = {
  tasks: int('tasks', 1),
  threads: int('threads', 1),
  window: int('window', 1),
  warmup: int('warmup', 0),
  cpuMs: Number(args['cpu-ms']),
  maxSeconds: Number(args['max-s']),
};
if (!(options.cpuMs >= 0)) fail(`--cpu-ms must be a number >= 0, got ${args['cpu-ms']}`);
if (!(options.maxSeconds > 0)) fail(`--max-s must be a number > 0, got ${args['max-s']}`);

const workerFile = new URL('./raw-piscina-worker.mjs', import.meta.url);
const handlerFile = new URL('./noop-handler.mjs', import.meta.url);
const silent = pino({ level: 'silent' });
const dirs = [];
process.on('exit', () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

// ---- contenders: each returns { run(n, cpuMs, cap) → { done, capped, wallMs, latency }, close(), stats() } ---

async function rawPiscina() {
  const pool = new Piscina({ filename: workerFile.href, maxThreads: options.threads, minThreads: options.threads, atomics: 'disabled' });
  return {
    async run(n, cpuMs, cap) {
      const worker = [];
      const outcome = await windowed(n, cap, async () => {
        const submittedAt = clock();
        worker.push((await pool.run({ cpuMs })) - submittedAt);
      });
      return { ...outcome, latency: { worker: worker.slice() } };
    },
    stats: () => ({}),
    close: () => pool.destroy(),
  };
}

async function scheduler(lane) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'vram-scheduler-bench-'));
  dirs.push(dataDir);
  const gpu = lane === 'gpu';
  const s = await createScheduler({
    dataDir,
    logger: silent,
    maxQueueDepth: options.window * 2,
    freeLaneThreads: options.threads,
    devices: [{ id: 'gpu0', vramGb: 24 }],
    types: { work: gpu ? { handler: handlerFile, vramGb: 1, concurrency: options.threads } : { handler: handlerFile, gpu: false } },
  });
  let batches = 0;
  let startedAt = new Map();
  s.on('batch:started', () => batches++);
  s.on('task:started', ({ id }) => startedAt.set(id, clock()));
  return {
    async run(n, cpuMs, cap) {
      const worker = [];
      const event = [];
      startedAt = new Map();
      const outcome = await windowed(n, cap, async () => {
        const submittedAt = clock();
        const { id } = await s.submit('work', { cpuMs });
        const result = await s.wait(id);
        if (result.status !== 'succeeded') throw new Error(`task ${id} ${result.status}: ${result.error?.code} ${result.error?.message}`);
        worker.push(result.value - submittedAt);
        event.push(startedAt.get(id) - submittedAt);
      });
      return { ...outcome, latency: { worker: worker.slice(), event: event.slice() } };
    },
    stats: () => ({ batches }),
    close: () => s.close(),
  };
}

const CONTENDERS = {
  'raw-piscina': rawPiscina,
  'sched-free': () => scheduler('free'),
  'sched-gpu': () => scheduler('gpu'),
};

// ---- measure -------------------------------------------------------------------------------------------

const rounds = [];
console.log(`${options.tasks} tasks, ${options.threads} threads, window ${options.window}, warm-up ${options.warmup}, cap ${options.maxSeconds} s per run; node ${process.version}, ${os.availableParallelism()} CPUs\n`);
for (const cpuMs of options.cpuMs > 0 ? [0, options.cpuMs] : [0]) {
  const figures = {};
  for (const [name, make] of Object.entries(CONTENDERS)) {
    const contender = await make();
    try {
      if (options.warmup > 0) await contender.run(options.warmup, cpuMs, false);
      const before = contender.stats();
      const { done, capped, wallMs, latency } = await contender.run(options.tasks, cpuMs, true);
      const after = contender.stats();
      figures[name] = {
        tasksPerSec: Math.round(done / (wallMs / 1000)),
        tasks: done,
        capped,
        wallMs: Math.round(wallMs),
        ...Object.fromEntries(Object.entries(latency).map(([kind, values]) => [`${kind}LatencyMs`, percentiles(values)])),
        ...('batches' in after ? { batches: after.batches - before.batches } : {}),
      };
    } finally {
      await contender.close();
    }
  }
  const ratios = {};
  for (const name of Object.keys(figures).filter((n) => n !== 'raw-piscina')) {
    ratios[`${name} / raw-piscina`] = round3(figures[name].tasksPerSec / figures['raw-piscina'].tasksPerSec);
  }
  rounds.push({ cpuMsPerTask: cpuMs, figures, ratios });
  print(cpuMs, figures, ratios);
}

const report = {
  date: new Date().toISOString(),
  commit: gitCommit(),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpus: { count: os.cpus().length, availableParallelism: os.availableParallelism(), model: os.cpus()[0]?.model },
  options,
  notes: [
    'tasksPerSec: timed tasks finished / wall time of the timed run (after warm-up); capped: the run hit --max-s first (wallMs = the cap; tasks = those finished by then)',
    'latencies of a capped run cover only the tasks that finished before the cap',
    'workerLatencyMs: submit call → task code started in its worker thread (shared clock)',
    'eventLatencyMs: submit call → task:started event in the main thread (scheduler only)',
    'sched-gpu runs its tasks in ONE thread (concurrency T): with CPU-bound work it uses one core, the others use T',
  ],
  rounds,
};
const out = new URL('./results/throughput.json', import.meta.url);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${out.pathname}`);

// ---- helpers -------------------------------------------------------------------------------------------

/**
 * Runs task() n times with at most options.window pending at any moment. With `cap`, stops at
 * --max-s: returns at once with the count finished so far (the caller then closes the contender,
 * which rejects what is still in flight: those rejections are expected and ignored).
 */
async function windowed(n, cap, task) {
  const t0 = performance.now();
  let started = 0;
  let done = 0;
  let stopped = false;
  const lane = async () => {
    while (started < n && !stopped) {
      started++;
      await task();
      if (!stopped) done++;
    }
  };
  const all = Promise.all(Array.from({ length: Math.min(options.window, n) }, lane)).then(() => 'done');
  all.catch(() => {}); // after the cap; before it, the race below rethrows
  let timer;
  const limit = new Promise((resolve) => (timer = cap ? setTimeout(resolve, options.maxSeconds * 1000, 'capped') : undefined));
  const outcome = await Promise.race([all, limit]);
  clearTimeout(timer);
  stopped = true;
  return { done, capped: outcome === 'capped', wallMs: performance.now() - t0 };
}

function percentiles(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (p) => round3(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);
  return { p50: at(0.5), p99: at(0.99), max: round3(sorted[sorted.length - 1]) };
}

function print(cpuMs, figures, ratios) {
  console.log(`Round: ${cpuMs === 0 ? 'no-op tasks' : `${cpuMs} ms of CPU per task`}`);
  const rows = [['contender', 'tasks/s', 'tasks', 'wall ms', 'worker p50 ms', 'worker p99 ms', 'event p50 ms', 'event p99 ms', 'batches']];
  for (const [name, f] of Object.entries(figures)) {
    rows.push([name, f.tasksPerSec, `${f.tasks}${f.capped ? ' (capped)' : ''}`, f.wallMs, f.workerLatencyMs.p50, f.workerLatencyMs.p99, f.eventLatencyMs?.p50 ?? '-', f.eventLatencyMs?.p99 ?? '-', f.batches ?? '-']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const row of rows) console.log('  ' + row.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '));
  for (const [name, ratio] of Object.entries(ratios)) console.log(`  ${name}: ${ratio}`);
  console.log();
}

/** The library's commit, with "+dirty" when the working tree has changes; undefined outside git. */
function gitCommit() {
  const git = (...args) => execFileSync('git', args, { cwd: new URL('..', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

function int(name, min) {
  const value = Number(args[name]);
  if (!Number.isSafeInteger(value) || value < min) fail(`--${name} must be an integer >= ${min}, got ${args[name]}`);
  return value;
}

function fail(message) {
  console.error(`${message}\n\n${HELP}`);
  process.exit(2);
}
