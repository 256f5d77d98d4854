// The first thing to run: `npm run demo`. No GPU needed: the devices are simulated and each
// "model" is a synthetic one (real memory, real CPU work per token) in demo/handlers/.
//
// It submits a burst of mixed LLM-like tasks with priorities, then a late and more urgent wave
// while the burst is half done. While it runs it shows bars (or plain lines without a
// terminal); after drain() it prints tables and writes a Gantt chart of the batches per device
// with their reserved VRAM, as SVG and PNG, to demo-output/.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';
import { writeChart } from './chart/index.mjs';
import { CATALOG } from './handlers/catalog.mjs';
import { Recorder } from './recorder.mjs';
import { printSummary } from './summary.mjs';
import { barsView } from './view/bars.mjs';
import { linesView } from './view/lines.mjs';
import { makeTasks } from './workload.mjs';

// ---- options ---------------------------------------------------------------------------
const TYPE_NAMES = Object.keys(CATALOG);
/** What a type asks for: its VRAM budget, or the free lane. */
const budget = (t) => (t.gpu === false ? 'free lane' : `${t.vramGb} GB`);
const describeType = (name, t) => `  ${name.padEnd(11)} ${budget(t)}${t.concurrency ? `, ${t.concurrency} at once` : ''}: ${t.about}`;
const program = new Command('npm run demo --')
  .description('Runs a burst of LLM-like tasks on simulated GPUs, shows them live, then prints a summary and draws a chart.')
  .addOption(new Option('--devices <list>', 'simulated GPUs, their VRAM in GB, comma-separated').argParser(gbList).default([24, 16], '24,16'))
  .addOption(new Option('--types <list>', 'task types to submit, comma-separated').argParser(typeList).default(TYPE_NAMES, 'all'))
  .addOption(new Option('--tasks <n>', 'tasks to submit: 80% at once, the rest when half of those are done').argParser(positiveInt).default(120))
  .addOption(new Option('--seed <n>', 'seed of the task mix: same seed, same tasks').argParser(integer).default(1))
  .addOption(new Option('--out <dir>', 'where to write timeline.svg, timeline.png and timeline.json').default(fileURLToPath(new URL('../demo-output', import.meta.url)), 'demo-output/ in the repository'))
  .option('--plain', 'plain progress lines even on a terminal (the default without one)')
  .addHelpText('after', `\nTask types (demo/handlers/catalog.mjs):\n${TYPE_NAMES.map((n) => describeType(n, CATALOG[n])).join('\n')}\n\nLogs: VRAM_SCHEDULER_LOG_LEVEL=info|debug (default warn).`);
const args = program.parse().opts();

// ---- the scheduler, on a fresh data directory ----------------------------------------------
const { tasks, burst } = makeTasks({ seed: args.seed, count: args.tasks, types: args.types });
const dataDir = mkdtempSync(join(tmpdir(), 'vram-scheduler-demo-'));
process.on('exit', () => rmSync(dataDir, { recursive: true, force: true })); // also after an error
const devices = args.devices.map((vramGb, i) => ({ id: `gpu${i}`, vramGb }));
const scheduler = await createScheduler({
  dataDir,
  devices,
  types: Object.fromEntries(
    args.types.map((name) => {
      const { handler, vramGb, gpu, concurrency } = CATALOG[name];
      return [name, { handler: new URL(`./handlers/${handler}`, import.meta.url), ...(gpu === false ? { gpu } : { vramGb }), ...(concurrency ? { concurrency } : {}) }];
    }),
  ),
  maxQueueDepth: Math.max(500, args.tasks),
  logger: pino({ level: process.env.VRAM_SCHEDULER_LOG_LEVEL ?? 'warn' }),
});

const recorder = new Recorder(scheduler);
const plain = args.plain || !process.stdout.isTTY;
const view = (plain ? linesView : barsView)({ scheduler, recorder, total: tasks.length });
process.once('SIGINT', () => {
  view.stop();
  process.exit(130);
});

// ---- submit, drain --------------------------------------------------------------------------
const title = `vram-scheduler demo: ${tasks.length} tasks (seed ${args.seed}) on ${devices.map((d) => `${d.id} ${d.vramGb} GB`).join(', ')}`;
console.log(`${title}\ntypes: ${args.types.map((n) => `${n} ${budget(CATALOG[n])}`).join(', ')}\n`);
view.start();
const ids = [];
const refused = new Map(); // "type: CODE" → count; a refused submit writes nothing (e.g. a budget no device can hold)
const submit = (list) =>
  Promise.all(
    list.map(({ type, payload, priority }) =>
      scheduler.submit(type, payload, { priority }).then(
        ({ id }) => ids.push(id),
        (error) => {
          const key = `${type}: ${error.code}`;
          if (!refused.has(key)) view.log(`submit refused  ${type}  ${error.code}: ${error.message}`);
          refused.set(key, (refused.get(key) ?? 0) + 1);
        },
      ),
    ),
  );

await submit(tasks.slice(0, burst));
view.log(`submitted a burst of ${burst} tasks`);
if (burst < tasks.length) {
  // The late wave arrives while batches run: a type whose batch is running or warm joins it
  // (no reload); its urgent tasks go ahead of the queued ones.
  await Promise.race([recorder.whenFinished(Math.ceil(ids.length / 2)), scheduler.drain()]);
  await submit(tasks.slice(burst));
  view.log(`submitted a late wave of ${tasks.length - burst} tasks, mostly high and critical`);
}
await scheduler.drain();
const drainedMs = recorder.now();
const results = await Promise.all(ids.map((id) => scheduler.result(id)));
// Batches whose queue ran dry stay warm (model loaded, lease held) for keepAliveMs; close() ends them.
await scheduler.close();
const endMs = recorder.now();
view.stop();

// ---- summary and chart ------------------------------------------------------------------------
const overCapacity = printSummary({ recorder, results, types: args.types, devices, endMs });
if (refused.size > 0) console.log(`\nRefused at submit (nothing stored): ${[...refused].map(([key, n]) => `${key} ×${n}`).join(', ')}`);
const succeeded = results.filter((r) => r.status === 'succeeded').length;
console.log(`\nWall time: ${(drainedMs / 1000).toFixed(1)} s to drain ${results.length} tasks (${succeeded} succeeded), ${(endMs / 1000).toFixed(1)} s with close()`);

const timeline = recorder.timeline({ title, types: args.types, devices, endMs });
const { svgPath, pngPath } = writeChart(timeline, args.out);
writeFileSync(join(args.out, 'timeline.json'), `${JSON.stringify(timeline)}\n`);
const shown = (path) => relative(process.cwd(), path) || path;
console.log(`Chart: ${shown(pngPath)} (and ${shown(svgPath)}; the recording: ${shown(join(args.out, 'timeline.json'))})`);
process.exitCode = overCapacity ? 1 : 0;

// ---- option parsers ---------------------------------------------------------------------------
function gbList(value) {
  const list = value.split(',').map(Number);
  if (list.some((gb) => !(gb > 0))) throw new InvalidArgumentError('expected GB per device, like 24,24 or 80');
  return list;
}
function typeList(value) {
  const list = value.split(',').map((s) => s.trim());
  const unknown = list.filter((name) => !TYPE_NAMES.includes(name));
  if (unknown.length > 0 || list.length === 0) throw new InvalidArgumentError(`unknown type ${unknown.join(', ')}; the types are ${TYPE_NAMES.join(', ')}`);
  return [...new Set(list)];
}
function positiveInt(value) {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
function integer(value) {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}
