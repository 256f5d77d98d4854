// `npm run bench:inspect`: what live inspection costs per task, side by side in one run.
//
// The same tasks (bench/noop-handler.mjs, 0 ms of work) go through one GPU type (concurrency C,
// keepAliveMs 60 s so its batch stays warm) through an in-flight window of W tasks, with:
//   off        no inspection (XState skips it entirely)
//   observer   createScheduler({ inspect }) with a no-op observer: XState's own inspection cost
//   stately    createScheduler({ inspector: { port } }): @statelyai/inspect serializes each event
//              and sends it over its WebSocket to the local relay (no browser attached)
// Contenders alternate within each round (off, observer, stately, then the next round), so
// machine noise hits all of them; the result is the median tasks/s per contender and the ratios
// to `off`, and the median process CPU time per task (main and worker threads: less sensitive to
// commit latency than tasks/s) and its ratio to `off`. The stately run also counts the messages
// the relay received.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '4' },
    window: { type: 'string', default: '200' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log('Usage: npm run bench:inspect -- [--tasks N] [--rounds R] [--concurrency C] [--window W]\n\nWrites bench/results/inspect.json.');
  process.exit(0);
}
const options = { tasks: Number(args.tasks), rounds: Number(args.rounds), concurrency: Number(args.concurrency), window: Number(args.window) };
/** Untimed tasks per run before the timed ones: threads started, model loaded. The relay sees them too. */
const WARMUP_TASKS = 200;
const handler = new URL('./noop-handler.mjs', import.meta.url);
const silent = pino({ level: 'silent' });
const dirs = [];
process.on('exit', () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const contenders = {
  off: () => ({}),
  observer: () => ({ inspect: () => {} }),
  stately: async () => ({ inspector: { port: await freePort() } }),
};

async function measure(name) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'vs-bench-inspect-'));
  dirs.push(dataDir);
  const scheduler = await createScheduler({
    dataDir,
    logger: silent,
    devices: [{ id: 'gpu0', vramGb: 24 }],
    types: { noop: { handler, vramGb: 2, concurrency: options.concurrency, keepAliveMs: 60_000 } },
    ...(await contenders[name]()),
  });
  let relayed = 0;
  if (scheduler.inspectorUrl) createWebSocketReceiver({ server: scheduler.inspectorUrl.replace('http', 'ws') }).subscribe(() => relayed++);
  await windowed(WARMUP_TASKS, scheduler);
  const started = performance.now();
  const cpu = process.cpuUsage();
  await windowed(options.tasks, scheduler);
  const { user, system } = process.cpuUsage(cpu);
  const wallMs = performance.now() - started;
  await scheduler.close();
  return { tasksPerSecond: options.tasks / (wallMs / 1000), cpuUsPerTask: (user + system) / options.tasks, relayed };
}

/** Runs n tasks with at most `window` submitted and not yet finished. */
async function windowed(n, scheduler) {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      const { id } = await scheduler.submit('noop', { cpuMs: 0 });
      await scheduler.wait(id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.window, n) }, lane));
}

function freePort() {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  }));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const samples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
const cpuSamples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
const relayedPerTask = [];
for (let round = 1; round <= options.rounds; round++) {
  for (const name of Object.keys(contenders)) {
    const { tasksPerSecond, cpuUsPerTask, relayed } = await measure(name);
    samples[name].push(tasksPerSecond);
    cpuSamples[name].push(cpuUsPerTask);
    if (name === 'stately') relayedPerTask.push(relayed / (options.tasks + WARMUP_TASKS));
    console.log(`round ${round} ${name.padEnd(8)} ${tasksPerSecond.toFixed(0)} tasks/s, ${cpuUsPerTask.toFixed(0)} µs CPU/task${name === 'stately' ? `, ${relayed} messages relayed` : ''}`);
  }
}
const off = median(samples.off);
const offCpu = median(cpuSamples.off);
const results = Object.fromEntries(
  Object.entries(samples).map(([name, xs]) => [
    name,
    {
      medianTasksPerSecond: Math.round(median(xs)),
      ratioToOff: Number((median(xs) / off).toFixed(3)),
      medianCpuUsPerTask: Math.round(median(cpuSamples[name])),
      cpuRatioToOff: Number((median(cpuSamples[name]) / offCpu).toFixed(3)),
      samples: xs.map(Math.round),
      cpuSamples: cpuSamples[name].map(Math.round),
    },
  ]),
);
const report = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.availableParallelism(),
  options,
  results,
  statelyMessagesPerTask: Number(median(relayedPerTask).toFixed(2)),
};
console.table(Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { 'median tasks/s': r.medianTasksPerSecond, 'ratio to off': r.ratioToOff, 'median CPU µs/task': r.medianCpuUsPerTask, 'CPU ratio to off': r.cpuRatioToOff }])));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/inspect.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
