// `npm run bench`: what the scheduler costs per task, against the alternatives, in one run.
//
// The same N tasks, the same thread count T and the same handler work (bench/work.mjs: no-op, then
// --cpu-ms of CPU) go through each contender, through an in-flight window of W tasks (at most W
// submitted and not yet finished), after a warm-up:
//   raw-piscina   new Piscina({ maxThreads: T, minThreads: T, atomics: 'disabled' }), pool.run()
//   p-queue       p-queue@8 (concurrency T) in front of the same kind of Piscina pool
//   bullmq        BullMQ on a local redis-server (started here, stopped after), a Worker with
//                 concurrency T running a sandboxed processor in worker threads
//   sched-free    this scheduler's free lane (gpu: false, freeLaneThreads: T), LMDB-durable
//   sched-gpu     one GPU type with threads: T on one simulated device (T threads, each with its
//                 own copy of the model, one task at a time in each)
// Then, idle: one task at a time (window 1), for the submit → start latency of a lone task.
// Every run of a contender is a fresh Node process (this script, with --child), so none inherits
// another's heap, threads or timers.
//
// Latency is submit → start: from the call (pool.run / add / submit) until the task's code began in
// its worker thread (it returns performance.timeOrigin + performance.now(), a clock the main thread
// shares). With a window W, the p50 is dominated by the W - 1 tasks ahead in line (≈ W / rate).
// Writes bench/results/overhead.json and bench/results/overhead.md.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import PQueue from 'p-queue';
import { Piscina } from 'piscina';
import { benchScheduler, runOne } from './bench-scheduler.mjs';
import { mainThreadCpuUs, pidCpuUs, processCpuUs } from './cpu-time.mjs';
import { clock } from './work.mjs';

const HELP = `Usage: npm run bench -- [--tasks N] [--repeat R] [--repeat-noop R] [--threads T] [--window W] [--warmup K] [--cpu-ms MS] [--idle N] [--max-s S] [--only a,b]

  --tasks N     tasks per contender and round (default 10000)
  --repeat R    times each timed round runs, every contender in turn each time (default 3): the
                report gives medians, and each ratio's median and range over the repetitions
  --repeat-noop R  times the no-op round runs (default: --repeat's when given, else 7): its runs
                are short (about a second per contender), so the machine's swings move them most
  --threads T   worker threads / concurrency (default 2)
  --window W    tasks in flight at most (default 1000)
  --warmup K    untimed tasks per contender before each timed run, in the same fresh process
                (default 3000: with 500 this scheduler's no-op CPU per task was still ~40% above
                its steady state, its code not yet optimized by V8)
  --cpu-ms MS   each task of the second round spins the CPU for MS ms of wall-clock time
                (default 1; 0 skips the round)
  --idle N      lone tasks per contender for the idle latency (default 200; 0 skips)
  --max-s S     time cap per timed run (default 15): at the cap the run counts the tasks that
                finished and is marked "capped" (keeps the whole bench to a few minutes)
  --only LIST   contenders to run, comma-separated (default: all; raw-piscina always runs)

BullMQ needs redis-server: taken from PATH, else installed with apt-get (Debian's package); if
neither works, BullMQ is left out and the report says why.
Writes bench/results/overhead.json and bench/results/overhead.md.`;

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    repeat: { type: 'string' },
    'repeat-noop': { type: 'string' },
    threads: { type: 'string', default: '2' },
    window: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '3000' },
    'cpu-ms': { type: 'string', default: '1' },
    idle: { type: 'string', default: '200' },
    'max-s': { type: 'string', default: '15' },
    only: { type: 'string' },
    help: { type: 'boolean' },
    // Internal: measure one contender in this process (see inFreshProcess).
    child: { type: 'string' },
    measure: { type: 'string' },
    'redis-port': { type: 'string' },
    'redis-pid': { type: 'string' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const options = {
  tasks: int('tasks', 1),
  repeat: int('repeat', 1, '3'),
  repeatNoop: int('repeat-noop', 1, args.repeat ?? '7'),
  threads: int('threads', 1),
  window: int('window', 1),
  warmup: int('warmup', 0),
  cpuMs: Number(args['cpu-ms']),
  idleTasks: int('idle', 0),
  maxSeconds: Number(args['max-s']),
};
if (!(options.cpuMs >= 0)) fail(`--cpu-ms must be a number >= 0, got ${args['cpu-ms']}`);
if (!(options.maxSeconds > 0)) fail(`--max-s must be a number > 0, got ${args['max-s']}`);

const workerFile = new URL('./raw-piscina-worker.mjs', import.meta.url);
const processorFile = new URL('./bullmq-processor.mjs', import.meta.url);
const cleanups = [];
process.on('exit', () => cleanups.forEach((cleanup) => cleanup()));
const tempDir = (prefix) => {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

// ---- contenders: each is { submit(cpuMs) → Promise<start time on the shared clock>, close() } ----------

function piscinaPool() {
  return new Piscina({ filename: workerFile.href, maxThreads: options.threads, minThreads: options.threads, atomics: 'disabled' });
}

async function rawPiscina() {
  const pool = piscinaPool();
  return { submit: (cpuMs) => pool.run({ cpuMs }), close: () => pool.destroy() };
}

async function pQueue() {
  const pool = piscinaPool();
  const queue = new PQueue({ concurrency: options.threads });
  return { submit: (cpuMs) => queue.add(() => pool.run({ cpuMs })), close: () => pool.destroy() };
}

async function bullmq(redis) {
  const { Queue, Worker } = await import('bullmq');
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const name = `overhead-${process.pid}`;
  const queue = new Queue(name, { connection });
  const worker = new Worker(name, processorFile.pathname, { connection, concurrency: options.threads, useWorkerThreads: true, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } });
  const waiting = new Map();
  worker.on('completed', (job, startedAt) => settle(job.id, (w) => w.resolve(startedAt)));
  worker.on('failed', (job, error) => job && settle(job.id, (w) => w.reject(error)));
  const settle = (id, how) => {
    const waiter = waiting.get(id);
    if (!waiter) return;
    waiting.delete(id);
    how(waiter);
  };
  await worker.waitUntilReady();
  return {
    /** redis-server does BullMQ's queue work in its own process: its CPU counts as BullMQ's. */
    otherProcessCpuUs: redis.cpuUs,
    async submit(cpuMs) {
      const job = await queue.add('work', { cpuMs }, { removeOnComplete: true, removeOnFail: true });
      return new Promise((resolve, reject) => waiting.set(job.id, { resolve, reject }));
    },
    async close() {
      await worker.close(true);
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    },
  };
}

async function scheduler(lane) {
  const s = await benchScheduler(lane, { dataDir: tempDir('vram-scheduler-bench-'), threads: options.threads, window: options.window });
  return { submit: (cpuMs) => runOne(s, cpuMs), close: () => s.close() };
}

// ---- measure -------------------------------------------------------------------------------------------

const MAKERS = {
  'raw-piscina': rawPiscina,
  'p-queue': pQueue,
  bullmq,
  'sched-free': () => scheduler('free'),
  'sched-gpu': () => scheduler('gpu'),
};
/** Marks the line of a child's stdout that carries its figures. */
const RESULT = 'overhead-result ';

if (args.child !== undefined) {
  const redis = args['redis-port'] ? { port: Number(args['redis-port']), cpuUs: () => pidCpuUs(Number(args['redis-pid'])) } : undefined;
  const contender = await MAKERS[args.child](redis);
  let figures;
  try {
    figures = args.measure === 'idle' ? await idleRun(contender) : await timedRun(contender, options.cpuMs);
  } finally {
    await contender.close();
  }
  // Exits once the line is written (a pipe may be asynchronous): BullMQ's sandbox threads and ioredis sockets may linger past close().
  process.stdout.write(`${RESULT}${JSON.stringify(figures)}\n`, () => process.exit(0));
  await new Promise(() => {}); // nothing else runs in a child
}

const only = args.only?.split(',').map((name) => name.trim());
const wanted = (name) => name === 'raw-piscina' || !only || only.includes(name);
const notes = [];
const redis = wanted('bullmq') ? await startRedis().catch((error) => (notes.push(`bullmq left out: ${error.message}`), undefined)) : undefined;
const CONTENDERS = Object.keys(MAKERS).filter((name) => (name !== 'bullmq' || redis) && wanted(name));

console.log(`${options.tasks} tasks × ${options.repeatNoop} (no-op) and × ${options.repeat}, ${options.threads} threads, window ${options.window}, warm-up ${options.warmup}, cap ${options.maxSeconds} s per run; node ${process.version}, ${os.availableParallelism()} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
const rounds = [];
try {
  for (const cpuMs of options.cpuMs > 0 ? [0, options.cpuMs] : [0]) {
    // Every contender in turn, R times: a ratio compares contenders of the same repetition.
    const repetitions = [];
    for (let r = 0; r < (cpuMs === 0 ? options.repeatNoop : options.repeat); r++) {
      repetitions.push(await eachContender('timed', cpuMs, r));
    }
    const round = {
      kind: cpuMs === 0 ? 'no-op' : `${cpuMs} ms CPU`,
      cpuMsPerTask: cpuMs,
      window: options.window,
      figures: medianFigures(repetitions),
      ...medianRatios(repetitions.map((figures) => ratios(figures, 'tasksPerSec'))),
      repetitions,
    };
    rounds.push(round);
    printRound(round);
  }
  if (options.idleTasks > 0) {
    const figures = await eachContender('idle', 0);
    const round = { kind: 'idle (one task at a time)', cpuMsPerTask: 0, window: 1, figures };
    rounds.push(round);
    printRound(round);
  }
} finally {
  await redis?.stop();
}

const report = {
  date: new Date().toISOString(),
  commit: gitCommit(),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpus: { count: os.cpus().length, availableParallelism: os.availableParallelism(), model: os.cpus()[0]?.model },
  loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  redis: redis?.version,
  options,
  notes: [
    'tasksPerSec: timed tasks finished / wall time of the timed run (after warm-up); capped: the run hit --max-s first (wallMs = the cap; tasks = those finished by then)',
    'latencyMs: submit call → task code started in its worker thread (shared clock); p50 under a window of W is mostly the wait behind W - 1 tasks',
    'each run of each contender (warm-up, then the timed run) is a fresh Node process: none inherits another contender\'s heap, threads or timers',
    'ratios: tasks/s of each contender ÷ raw-piscina, and ÷ bullmq, taken within each repetition; the median over the repetitions (ratioRanges: the lowest and highest); figures: per contender, medians over the repetitions (repetitions: every run)',
    'sched-* write every task to LMDB (submit resolves once committed and flushed; the task is marked running durably before its handler starts; its outcome is committed before wait() resolves)',
    'bullmq runs on redis-server in memory only (no RDB snapshots, no AOF): nothing of it is durable, unlike sched-*',
    'sched-gpu is one GPU type with threads: T (concurrency 1): T threads like the others, each with its own copy of the model, under a lease of T × its budget',
    `cpuUsPerTask: CPU time during the timed run ÷ tasks finished, µs (a capped run: until the tasks in flight at the cap have settled too, ÷ every task started); "-" where it could not be read: "all" = every thread of the contender's process (main, workers, LMDB and libuv threads, GC) plus redis-server's for bullmq; "main" = the main thread alone (Linux only, 10 ms ticks). With ${os.availableParallelism()} CPUs, a rate of R tasks/s leaves ${os.availableParallelism()}e6 / R µs of CPU per task: what a contender uses beyond its tasks' own work is what slows it`,
    ...notes,
  ],
  rounds,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/overhead.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(new URL('./results/overhead.md', import.meta.url), markdown(report));
console.log('wrote bench/results/overhead.json and bench/results/overhead.md');
process.exit(0); // BullMQ's sandbox threads and ioredis sockets may linger past close()

// ---- helpers -------------------------------------------------------------------------------------------

/**
 * Measures each contender in turn, each in a fresh Node process (no heap, threads or timers left
 * over from another: one run here showed this scheduler's CPU per task about a quarter higher right
 * after BullMQ had run in the same process); returns the figures by name. `shift` rotates the order,
 * so over the repetitions no contender always runs first or last.
 */
async function eachContender(what, cpuMs, shift = 0) {
  const figures = {};
  const order = [...CONTENDERS.slice(shift % CONTENDERS.length), ...CONTENDERS.slice(0, shift % CONTENDERS.length)];
  for (const name of order) figures[name] = await inFreshProcess(name, what, cpuMs);
  return figures;
}

/** Runs this script as a child that measures one contender (`what`: 'timed' or 'idle') and prints its figures. */
async function inFreshProcess(name, what, cpuMs) {
  const passOn = ['tasks', 'threads', 'window', 'warmup', 'idle', 'max-s'].flatMap((option) => (args[option] === undefined ? [] : [`--${option}`, args[option]]));
  const childArgs = [fileURLToPath(import.meta.url), '--child', name, '--measure', what, '--cpu-ms', String(cpuMs), ...passOn];
  if (redis) childArgs.push('--redis-port', String(redis.port), '--redis-pid', String(redis.pid));
  const { stdout } = await promisify(execFile)(process.execPath, childArgs, { maxBuffer: 64 * 1024 * 1024 });
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
  if (line === undefined) throw new Error(`the ${name} run printed no figures:\n${stdout}`);
  return JSON.parse(line.slice(RESULT.length));
}

/** One timed run after a warm-up: rate, latencies and CPU per task. */
async function timedRun(contender, cpuMs) {
  if (options.warmup > 0) await windowed(contender, options.warmup, cpuMs, options.window, false);
  const cpu = cpuMeter(contender);
  const { done, started, capped, wallMs, latencies, settled } = await windowed(contender, options.tasks, cpuMs, options.window, true);
  // A capped run stops with tasks in flight, part of their work done: count them whole, once they have settled.
  if (capped) await settled;
  const cpuUsPerTask = cpu.perTask(capped ? started() : done);
  return { tasksPerSec: Math.round(done / (wallMs / 1000)), tasks: done, capped, wallMs: Math.round(wallMs), latencyMs: percentiles(latencies), cpuUsPerTask };
}

/** Lone tasks, one at a time: the submit → start latency when nothing waits. */
async function idleRun(contender) {
  await windowed(contender, Math.min(50, options.idleTasks), 0, 1, false);
  const { latencies } = await windowed(contender, options.idleTasks, 0, 1, true);
  return { tasks: latencies.length, latencyMs: percentiles(latencies) };
}

/** Starts counting CPU time (this process's, the main thread's, and a contender's other process's); `perTask(n)` reads it per task, µs. */
function cpuMeter(contender) {
  // undefined where the other process's CPU cannot be read (no /proc, or it exited): "all" is then unknown, not this process's alone.
  const all = () => {
    const other = contender.otherProcessCpuUs ? contender.otherProcessCpuUs() : 0;
    return other === undefined ? undefined : processCpuUs() + other;
  };
  const start = { all: all(), main: mainThreadCpuUs() };
  const perTask = (from, to, tasks) => (tasks > 0 && from !== undefined && to !== undefined ? Math.round((to - from) / tasks) : null);
  return {
    perTask: (tasks) => ({ all: perTask(start.all, all(), tasks), main: perTask(start.main, mainThreadCpuUs(), tasks) }),
  };
}

/**
 * Runs n tasks with at most `window` pending at any moment; returns the start latencies. With `cap`,
 * stops at --max-s and counts what finished (what is still in flight is left to close();
 * `settled` resolves once it has settled, `started()` counts it too).
 */
async function windowed(contender, n, cpuMs, window, cap) {
  const latencies = [];
  const t0 = performance.now();
  let started = 0;
  let done = 0;
  let stopped = false;
  const lane = async () => {
    while (started < n && !stopped) {
      started++;
      const submittedAt = clock();
      const startedAt = await contender.submit(cpuMs);
      if (stopped) return;
      latencies.push(startedAt - submittedAt);
      done++;
    }
  };
  const lanes = Array.from({ length: Math.min(window, n) }, lane);
  const all = Promise.all(lanes).then(() => 'done');
  all.catch(() => {}); // after the cap; before it, the race below rethrows
  let timer;
  const limit = new Promise((resolve) => (timer = cap ? setTimeout(resolve, options.maxSeconds * 1000, 'capped') : undefined));
  const outcome = await Promise.race([all, limit]);
  clearTimeout(timer);
  stopped = true;
  return { done, started: () => started, capped: outcome === 'capped', wallMs: performance.now() - t0, latencies, settled: Promise.allSettled(lanes) };
}

/** Starts redis-server on 127.0.0.1, a free port and a temporary directory; `stop()` ends it by pid. */
async function startRedis() {
  let binary = which('redis-server');
  if (!binary) {
    console.log('redis-server not found: installing Debian\'s redis-server package (apt-get) ...');
    const aptGet = (...a) => {
      const [command, ...rest] = process.getuid?.() === 0 ? ['apt-get', ...a] : ['sudo', '-n', 'apt-get', ...a];
      execFileSync(command, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    };
    try {
      try {
        aptGet('install', '-y', '--no-install-recommends', 'redis-server');
      } catch {
        aptGet('update'); // stale package lists
        aptGet('install', '-y', '--no-install-recommends', 'redis-server');
      }
    } catch (error) {
      throw new Error(`redis-server is not installed and apt-get could not install it (${error.message})`);
    }
    binary = which('redis-server');
    if (!binary) throw new Error('redis-server is still not on PATH after apt-get install');
  }
  const port = await freePort();
  const dir = tempDir('overhead-redis-');
  // In memory only (--save '', no AOF): the most favourable setting for BullMQ, and nothing to save on shutdown.
  const child = spawn(binary, ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = (signal) => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, signal);
  };
  cleanups.unshift(() => kill('SIGKILL')); // on an early exit: before its directory is removed
  await waitForPort(port, child);
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  /** SIGTERM by pid, then SIGKILL if it has not exited within 5 s. */
  const stop = async () => {
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { port, pid: child.pid, version, stop, cpuUs: () => pidCpuUs(child.pid) };
}

function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Resolves once the port accepts connections; rejects if the process exits first. */
async function waitForPort(port, child) {
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let attempt = 0; attempt < 200; attempt++) {
    if (exited) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not listen on 127.0.0.1:${port} within 10 s`);
}

function ratios(figures, field) {
  const out = {};
  for (const base of ['raw-piscina', 'bullmq']) {
    if (!figures[base]) continue;
    for (const [name, f] of Object.entries(figures)) if (name !== base) out[`${name} / ${base}`] = round3(f[field] / figures[base][field]);
  }
  return out;
}

/** The median of the values that are numbers (a run that finished no task has no latencies); null if none. */
function median(values) {
  const sorted = values.filter((v) => typeof v === 'number').sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : round3((sorted[mid - 1] + sorted[mid]) / 2);
}

/** Each ratio's median over the repetitions (`ratios`) and its lowest and highest (`ratioRanges`). */
function medianRatios(perRepetition) {
  const out = { ratios: {}, ratioRanges: {} };
  for (const key of Object.keys(perRepetition[0])) {
    const values = perRepetition.map((r) => r[key]);
    out.ratios[key] = median(values);
    out.ratioRanges[key] = [Math.min(...values), Math.max(...values)];
  }
  return out;
}

/** Per contender, the median of each figure over the repetitions (capped if any repetition was). */
function medianFigures(repetitions) {
  const out = {};
  for (const name of Object.keys(repetitions[0])) {
    const runs = repetitions.map((figures) => figures[name]);
    out[name] = {
      tasksPerSec: Math.round(median(runs.map((f) => f.tasksPerSec))),
      tasks: Math.round(median(runs.map((f) => f.tasks))),
      capped: runs.some((f) => f.capped),
      latencyMs: { p50: median(runs.map((f) => f.latencyMs.p50)), p99: median(runs.map((f) => f.latencyMs.p99)) },
      cpuUsPerTask: { all: median(runs.map((f) => f.cpuUsPerTask.all)), main: median(runs.map((f) => f.cpuUsPerTask.main)) },
    };
  }
  return out;
}

function percentiles(values) {
  if (values.length === 0) return { p50: null, p99: null, max: null };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => round3(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);
  return { p50: at(0.5), p99: at(0.99), max: round3(sorted[sorted.length - 1]) };
}

function table(round) {
  const timed = round.figures[Object.keys(round.figures)[0]]?.tasksPerSec !== undefined;
  const rows = [timed ? ['contender', 'tasks/s', 'tasks', '÷ raw-piscina', '÷ bullmq', 'p50 ms', 'p99 ms', 'CPU µs/task', 'main thread µs/task'] : ['contender', 'tasks', 'p50 ms', 'p99 ms', 'max ms']];
  for (const [name, f] of Object.entries(round.figures)) {
    rows.push(
      timed
        ? [name, f.tasksPerSec, `${f.tasks}${f.capped ? ' (capped)' : ''}`, ratioCell(round, name, 'raw-piscina'), ratioCell(round, name, 'bullmq'), f.latencyMs.p50, f.latencyMs.p99, f.cpuUsPerTask.all ?? '-', f.cpuUsPerTask.main ?? '-']
        : [name, f.tasks, f.latencyMs.p50, f.latencyMs.p99, f.latencyMs.max],
    );
  }
  return rows;
}

/** A ratio's median, and its range over the repetitions when there were several. */
function ratioCell(round, name, base) {
  if (name === base) return '1';
  const key = `${name} / ${base}`;
  if (round.ratios[key] === undefined) return '-';
  const [low, high] = round.ratioRanges[key];
  return round.repetitions.length > 1 ? `${round.ratios[key]} (${low}–${high})` : String(round.ratios[key]);
}

function printRound(round) {
  console.log(`Round: ${round.kind}, window ${round.window}`);
  const rows = table(round);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const row of rows) console.log('  ' + row.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '));
  console.log();
}

function markdown(report) {
  const lines = [
    '# Overhead: this scheduler against raw Piscina, p-queue and BullMQ',
    '',
    `Measured ${report.date.slice(0, 10)} on ${report.platform}, ${report.cpus.count} × ${report.cpus.model ?? 'CPU'}, node ${report.node}` +
      `${report.redis ? `, ${report.redis.split(' ').slice(0, 3).join(' ')}` : ''}; load average at start ${report.loadAverageAtStart.join(' ')}; commit ${report.commit ?? '?'}.`,
    `${report.options.threads} threads, ${report.options.tasks} tasks per contender and round (cap ${report.options.maxSeconds} s), in-flight window ${report.options.window}; the no-op round ${report.options.repeatNoop} times and the others ${report.options.repeat} times, every contender in turn each time.`,
    'All contenders ran side by side in this one run: compare the ratios, not the absolute rates. Timed rounds show medians over the repetitions (the contenders in a rotated order each time); a ratio is taken within each repetition, then its median (and range) is shown, so it need not equal the ratio of the median rates. The idle round runs once.',
    '',
  ];
  for (const round of report.rounds) {
    const rows = table(round);
    lines.push(`## ${round.kind} (window ${round.window})`, '', `| ${rows[0].join(' | ')} |`, `|${rows[0].map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const row of rows.slice(1)) lines.push(`| ${row.join(' | ')} |`);
    lines.push('');
  }
  lines.push('Latency: submit call → the task\'s code starts in its worker thread.', '', ...report.notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}

/** The library's commit, with "+dirty" when src has uncommitted changes; undefined outside git. */
function gitCommit() {
  const git = (...a) => execFileSync('git', a, { cwd: new URL('..', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

function int(name, min, fallback) {
  const value = Number(args[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < min) fail(`--${name} must be an integer >= ${min}, got ${args[name]}`);
  return value;
}

function fail(message) {
  console.error(`${message}\n\n${HELP}`);
  process.exit(2);
}
