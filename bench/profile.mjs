// `npm run bench:profile`: where the scheduler's main thread spends its time per task.
//
// The same tasks as bench/overhead.mjs (its handler, an in-flight window of W, T threads) go through
// this scheduler while V8's sampling profiler records the main thread, for the timed run only (not
// start-up or warm-up). Each sample's time goes to the nearest frame on its stack that has a source
// file, so a native call (Piscina's postMessage, an LMDB read) counts for the library that made it.
// Areas: this package (dist/), LMDB and msgpack, Piscina, XState, other libraries, Node's own code,
// the bench's driver, GC, native work with no JS frame ("program") and idle (waiting in the event loop).
// Then the bytes the main thread allocates on V8's heap per task, by function, in a second timed run.
// Rounds: free lane no-op, free lane --cpu-ms, one GPU type no-op, one GPU type --cpu-ms. Writes bench/results/profile.{json,md}.
import { Session } from 'node:inspector/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchScheduler, runOne } from './bench-scheduler.mjs';
import { attribute, shortUrl } from './profile-attribution.mjs';
import { mainThreadCpuUs, mainThreadSchedUs, processCpuUs } from './cpu-time.mjs';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    threads: { type: 'string', default: '2' },
    window: { type: 'string', default: '1000' },
    'cpu-ms': { type: 'string', default: '1' },
    'interval-us': { type: 'string', default: '200' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`Usage: npm run bench:profile -- [--tasks N] [--threads T] [--window W] [--cpu-ms MS] [--interval-us US]

  --tasks N        tasks per timed round (default 20000; the --cpu-ms round runs N ÷ (5 × MS))
  --threads T      worker threads / concurrency (default 2)
  --window W       tasks in flight at most (default 1000)
  --cpu-ms MS      each task of the second round spins the CPU for MS ms of wall-clock time (default 1)
  --interval-us US the sampling profiler's interval (default 200)

Writes bench/results/profile.json and bench/results/profile.md.`);
  process.exit(0);
}
const options = { tasks: Number(args.tasks), threads: Number(args.threads), window: Number(args.window), cpuMs: Number(args['cpu-ms']), intervalUs: Number(args['interval-us']) };
for (const [name, value] of Object.entries(options)) {
  if (!Number.isSafeInteger(value) || value < (name === 'cpuMs' ? 0 : 1)) throw new Error(`--${name}: expected a whole number, got ${value}`);
}

const where = { repoRoot: new URL('../', import.meta.url).href, driverUrl: import.meta.url };

/**
 * Bytes the main thread allocates on V8's heap per task (collected or not; not the memory behind
 * ArrayBuffers and Buffers, nor native libraries' own), and the 10 functions that allocate
 * most: V8's sampling heap profiler over a second timed run of `tasks`, apart from the CPU profile.
 */
async function allocationsPerTask(session, runTasks) {
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const tasks = await runTasks();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  await session.post('HeapProfiler.disable');
  const bySite = new Map();
  let total = 0;
  const visit = (node) => {
    const frame = node.callFrame;
    const site = frame.url ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url, where)}:${frame.lineNumber + 1}` : frame.functionName || '(native)';
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return {
    bytesPerTask: Math.round(total / tasks),
    topSites: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([site, bytes]) => ({ site, bytesPerTask: Math.round(bytes / tasks) })),
  };
}

/** The main thread's wall-clock time in the timed run, per task: on a core, runnable but waiting for one, and the rest (asleep or blocked). */
function mainThreadSplit(start, end, wallUs, perTask) {
  if (start === undefined || end === undefined) return null;
  const onCore = end.onCore - start.onCore;
  const waitingForCore = end.waitingForCore - start.waitingForCore;
  return { onCore: perTask(onCore), waitingForCore: perTask(waitingForCore), asleep: perTask(Math.max(0, wallUs - onCore - waitingForCore)) };
}

async function round(name, lane, cpuMs, tasks) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'vram-scheduler-profile-'));
  const s = await benchScheduler(lane, { dataDir, threads: options.threads, window: options.window });
  const run = async (n) => {
    let submitted = 0;
    const one = async () => {
      while (submitted < n) {
        submitted++;
        await runOne(s, cpuMs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.window, n) }, one));
    return n;
  };
  try {
    await run(Math.min(2000, tasks)); // warm-up: threads started, code compiled
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: options.intervalUs });
    await session.post('Profiler.start');
    const cpu = { all: processCpuUs(), main: mainThreadCpuUs() };
    const sched = mainThreadSchedUs();
    const started = performance.now();
    await run(tasks);
    const wallMs = performance.now() - started;
    const mainUs = mainThreadCpuUs(); // before stopping: building the profile is no task's cost
    const allUs = processCpuUs() - cpu.all;
    const schedEnd = mainThreadSchedUs();
    const { profile } = await session.post('Profiler.stop');
    const allocations = await allocationsPerTask(session, () => run(tasks));
    session.disconnect();
    const { areas, functions, lateUs } = attribute(profile, { ...where, intervalUs: options.intervalUs });
    const sampledUs = [...areas.values()].reduce((a, b) => a + b, 0);
    const perTask = (us) => Math.round((us / tasks) * 10) / 10;
    const sorted = (map, limit) => [...map].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([key, us]) => ({ name: key, usPerTask: perTask(us), share: Math.round((us / sampledUs) * 1000) / 10 }));
    return {
      name,
      lane,
      cpuMs,
      tasks,
      tasksPerSec: Math.round(tasks / (wallMs / 1000)),
      cpuUsPerTask: { all: perTask(allUs), main: mainUs === undefined || cpu.main === undefined ? null : perTask(mainUs - cpu.main) },
      sampledUsPerTask: perTask(sampledUs),
      lateSampledShare: Math.round((lateUs / sampledUs) * 1000) / 10,
      mainThreadUsPerTask: mainThreadSplit(sched, schedEnd, wallMs * 1000, perTask),
      areas: sorted(areas, Infinity).filter((area) => area.usPerTask > 0),
      topFunctions: sorted(functions, 15),
      allocations,
    };
  } finally {
    await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(`profiling the main thread: ${options.tasks} tasks a round, ${options.threads} threads, window ${options.window}; node ${process.version}, ${os.availableParallelism()} CPUs`);
const rounds = [];
rounds.push(await round('free lane, no-op', 'free', 0, options.tasks));
if (options.cpuMs > 0) rounds.push(await round(`free lane, ${options.cpuMs} ms CPU`, 'free', options.cpuMs, Math.max(1, Math.round(options.tasks / (5 * options.cpuMs)))));
rounds.push(await round('one GPU type, no-op', 'gpu', 0, options.tasks));
if (options.cpuMs > 0) rounds.push(await round(`one GPU type, ${options.cpuMs} ms CPU`, 'gpu', options.cpuMs, Math.max(1, Math.round(options.tasks / (5 * options.cpuMs)))));
for (const r of rounds) printRound(r);

const report = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpus: { count: os.cpus().length, model: os.cpus()[0]?.model },
  loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  options,
  notes: [
    'areas and topFunctions: the main thread\'s sampled time during the timed run ÷ tasks, µs, and its share of the sampled time; a sample counts for the nearest frame on its stack with a source file (a native call counts for the library that made it)',
    'idle: the main thread was in its event loop, asleep or woken and waiting for a core (a sample is a wall-clock reading: it cannot tell the two apart); program: native work with no JS frame on the stack; the profiler itself adds some time everywhere',
    'lateSampledShare: % of the sampled time that came in gaps over twice the sampling interval (the sampler was short of a core); each gap counts for wherever the thread was when its late sample came, so a high share makes the split loose',
    'mainThreadUsPerTask: the main thread\'s wall-clock time in the timed run ÷ tasks, µs, from Linux\'s /proc schedstat: on a core, runnable but waiting for one, and asleep (or blocked)',
    'cpuUsPerTask: CPU time ÷ tasks over the same run, µs: all = every thread of the process; main = the main thread (Linux only, 10 ms ticks)',
    'allocations: bytes the main thread allocated on V8\'s heap per task during a second timed run (V8\'s sampling heap profiler, every 4 KiB on average, scaled to all bytes, counting objects already collected too; not the memory behind ArrayBuffers and Buffers, nor what native code allocates), and the functions that allocated most themselves (with what is inlined into them)',
  ],
  rounds,
};
const out = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'profile.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(out, 'profile.md'), markdown(report));
console.log('wrote bench/results/profile.json and bench/results/profile.md');

function printRound(r) {
  console.log(`\n${r.name}: ${r.tasksPerSec} tasks/s; CPU µs/task ${r.cpuUsPerTask.all} (main thread ${r.cpuUsPerTask.main ?? '-'}); main thread sampled ${r.sampledUsPerTask} µs/task, ${r.lateSampledShare}% of it late`);
  if (r.mainThreadUsPerTask) console.log(`  main thread µs/task: ${r.mainThreadUsPerTask.onCore} on a core, ${r.mainThreadUsPerTask.waitingForCore} waiting for one, ${r.mainThreadUsPerTask.asleep} asleep`);
  for (const a of r.areas) console.log(`  ${String(a.usPerTask).padStart(7)} µs/task ${String(a.share).padStart(5)}%  ${a.name}`);
  console.log(`  allocated on the main thread: ${r.allocations.bytesPerTask} bytes/task`);
}

function split(us) {
  return us ? ` The main thread per task: ${us.onCore} µs on a core, ${us.waitingForCore} µs waiting for one, ${us.asleep} µs asleep.` : '';
}

function markdown(report) {
  const lines = [
    '# Where the main thread\'s time goes, per task',
    '',
    `Measured ${report.date.slice(0, 10)} on ${report.platform}, ${report.cpus.count} × ${report.cpus.model ?? 'CPU'}, node ${report.node}; load average at start ${report.loadAverageAtStart.join(' ')}.`,
    `${report.options.threads} threads, in-flight window ${report.options.window}, V8's sampling profiler every ${report.options.intervalUs} µs on the main thread during the timed run.`,
    '',
  ];
  for (const r of report.rounds) {
    lines.push(`## ${r.name}`, '', `${r.tasks} tasks, ${r.tasksPerSec} tasks/s under the profiler. CPU per task: ${r.cpuUsPerTask.all} µs in all threads, ${r.cpuUsPerTask.main ?? '-'} µs in the main thread; sampled main-thread time (wall clock) ${r.sampledUsPerTask} µs, ${r.lateSampledShare}% of it in late samples.${split(r.mainThreadUsPerTask)}`, '');
    lines.push('| area | µs per task | share |', '| --- | ---: | ---: |', ...r.areas.map((a) => `| ${a.name} | ${a.usPerTask} | ${a.share}% |`), '');
    lines.push('| function (self time) | µs per task | share |', '| --- | ---: | ---: |', ...r.topFunctions.map((f) => `| \`${f.name}\` | ${f.usPerTask} | ${f.share}% |`), '');
    lines.push(`Allocated on V8's heap by the main thread: ${r.allocations.bytesPerTask} bytes per task (a second timed run, sampled).`, '', '| function (allocated itself) | bytes per task |', '| --- | ---: |', ...r.allocations.topSites.map((a) => `| \`${a.site}\` | ${a.bytesPerTask} |`), '');
  }
  lines.push(...report.notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}
