// The first thing to run: `npm run demo`. No GPU needed: the devices are simulated and each
// "model" is a synthetic one (real memory, real CPU work) in demo/handlers/.
//
// It submits a burst of mixed LLM-like tasks, then a late wave while the first batches run,
// prints a line per batch start/end and per task failure as they happen, and a summary after
// drain(): batches, per-type timings, peak reserved VRAM per device and the wall time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';
import { CATALOG } from './handlers/catalog.mjs';

const HELP = `Usage: npm run demo -- [--tasks N] [--seed S] [--devices 24,24]

  --tasks N        tasks to submit (default 40): 80% at once, the rest when the first batch ends
  --seed S         seed of the task mix (default 1): same seed, same tasks
  --devices LIST   simulated GPUs as a comma-separated list of GB (default 24: one 24 GB gpu0)
  --help           this text

Task types (demo/handlers/catalog.mjs): ${Object.entries(CATALOG)
  .map(([name, t]) => `${name} (${t.gpu === false ? 'free lane' : `${t.vramGb} GB${t.concurrency ? `, ${t.concurrency} at once` : ''}`})`)
  .join(', ')}.
Logs: VRAM_SCHEDULER_LOG_LEVEL=info|debug (default warn).`;

// ---- options ---------------------------------------------------------------------------
const { values: args } = parseArgs({
  options: { tasks: { type: 'string', default: '40' }, seed: { type: 'string', default: '1' }, devices: { type: 'string', default: '24' }, help: { type: 'boolean' } },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const taskCount = Number(args.tasks);
const seed = Number(args.seed);
const deviceGbs = args.devices.split(',').map(Number);
if (!Number.isSafeInteger(taskCount) || taskCount < 1) usage(`--tasks must be a positive integer, got ${args.tasks}`);
if (!Number.isSafeInteger(seed)) usage(`--seed must be an integer, got ${args.seed}`);
if (deviceGbs.some((gb) => !(gb > 0))) usage(`--devices must be a list of GB like 24,24, got ${args.devices}`);

// ---- the task mix: a fixed-seed PRNG, so a seed always gives the same tasks ---------------
const rand = mulberry32(seed);
const pick = (list) => list[Math.floor(rand() * list.length)];
function makeTask(i) {
  const r = rand();
  if (r < 0.25) return ['summarize', { prompt: `report-${i}.txt`, tokens: 40 + Math.floor(rand() * 40) }];
  if (r < 0.5) return ['translate', { prompt: `sentence ${i}`, to: pick(['French', 'German', 'Spanish', 'Japanese', 'Klingon']), tokens: 30 + Math.floor(rand() * 30) }];
  if (r < 0.8) return ['embed', { prompt: `chunk ${i}`, tokens: 16 }];
  return ['fetch_page', { url: `https://${pick(['news.example.com', 'docs.example.org', 'wiki.example.net', 'gone.invalid'])}/article/${i}` }];
}
const tasks = Array.from({ length: taskCount }, (_, i) => makeTask(i));
const burst = Math.ceil(taskCount * 0.8);

// ---- the scheduler, on a fresh data directory ----------------------------------------------
const dataDir = mkdtempSync(join(tmpdir(), 'vram-scheduler-demo-'));
process.on('exit', () => rmSync(dataDir, { recursive: true, force: true })); // also after an error
process.once('SIGINT', () => process.exit(130));
const devices = deviceGbs.map((vramGb, i) => ({ id: `gpu${i}`, vramGb }));
const types = Object.fromEntries(
  Object.entries(CATALOG).map(([name, { handler, vramGb, gpu, concurrency }]) => [
    name,
    { handler: new URL(`./handlers/${handler}`, import.meta.url), ...(gpu === false ? { gpu } : { vramGb }), ...(concurrency ? { concurrency } : {}) },
  ]),
);
const scheduler = await createScheduler({
  dataDir,
  devices,
  types,
  maxQueueDepth: Math.max(500, taskCount),
  logger: pino({ level: process.env.VRAM_SCHEDULER_LOG_LEVEL ?? 'warn' }),
});

// ---- live lines: one per batch start/end and per failure -----------------------------------
const t0 = performance.now();
const now = () => performance.now() - t0;
const stamp = () => `+${String(Math.round(now())).padStart(5)} ms`;
const gb = (n) => (Number.isFinite(n) ? `${+n.toFixed(1)}` : '∞');
const peak = new Map(devices.map((d) => [d.id, 0]));
/** Samples the snapshot: records the peak reserved VRAM per device; returns "reserved … | queued …". */
function sample() {
  const snap = scheduler.snapshot();
  for (const d of snap.devices) peak.set(d.id, Math.max(peak.get(d.id), d.reservedGb));
  const vram = snap.devices.map((d) => `${d.id} ${gb(d.reservedGb)}/${gb(d.vramGb)} GB`).join(', ');
  const queued = Object.entries(snap.queues).map(([type, n]) => `${type} ${n}`).join(', ');
  return `reserved ${vram} | queued ${queued}`;
}

const batches = [];
const liveBatch = new Map(); // type → its running batch
const batchOfTask = new Map(); // task id → batch
let firstBatchEnded;
const aBatchEnded = new Promise((resolve) => (firstBatchEnded = resolve));

scheduler.on('batch:started', ({ type, device, vramGb }) => {
  const batch = { n: batches.length + 1, type, device, leaseGb: vramGb, tasks: 0, loads: new Set(), start: now(), end: NaN };
  batches.push(batch);
  liveBatch.set(type, batch);
  console.log(`${stamp()}  batch #${batch.n} start  ${type.padEnd(10)} on ${device}, lease ${gb(vramGb)} GB | ${sample()}`);
});
scheduler.on('batch:ended', ({ type, device, tasks: count }) => {
  const batch = liveBatch.get(type);
  liveBatch.delete(type);
  Object.assign(batch, { tasks: count, end: now() });
  console.log(`${stamp()}  batch #${batch.n} end    ${type.padEnd(10)} on ${device}, ${count} tasks | ${sample()}`);
  firstBatchEnded();
});
scheduler.on('task:started', ({ id, type }) => {
  if (liveBatch.has(type)) batchOfTask.set(id, liveBatch.get(type));
});
scheduler.on('task:failed', ({ id, type, error }) => {
  console.log(`${stamp()}  task failed  ${type.padEnd(10)} ${id.slice(0, 8)}  ${error.code}: ${error.message}`);
});

// ---- submit, drain --------------------------------------------------------------------------
const ids = [];
const refused = new Map(); // "type: CODE" → count; a refused submit writes nothing (e.g. a budget no device can hold)
const submit = (from, to) =>
  Promise.all(
    tasks.slice(from, to).map(([type, payload]) =>
      scheduler.submit(type, payload).then(
        ({ id }) => ids.push(id),
        (error) => {
          const key = `${type}: ${error.code}`;
          if (!refused.has(key)) console.log(`${stamp()}  submit refused  ${type}  ${error.code}: ${error.message}`);
          refused.set(key, (refused.get(key) ?? 0) + 1);
        },
      ),
    ),
  );

console.log(`vram-scheduler demo: ${taskCount} tasks (seed ${seed}) on ${devices.map((d) => `${d.id} ${d.vramGb} GB`).join(', ')}`);
console.log(`types: ${Object.entries(CATALOG).map(([n, t]) => `${n} ${t.gpu === false ? 'free lane' : `${t.vramGb} GB`}`).join(', ')}\n`);
await submit(0, burst);
console.log(`${stamp()}  submitted a burst of ${burst} tasks | ${sample()}`);

// The late wave arrives while batches run: tasks of a running type join its batch (no reload),
// a type whose batch has ended starts a new one.
await Promise.race([aBatchEnded, scheduler.drain()]);
if (burst < taskCount) {
  await submit(burst, taskCount);
  console.log(`${stamp()}  submitted a late wave of ${taskCount - burst} tasks | ${sample()}`);
}
await scheduler.drain();
const wallMs = now();

// ---- summary ----------------------------------------------------------------------------------
const results = await Promise.all(ids.map((id) => scheduler.result(id)));
for (const r of results) if (r.status === 'succeeded' && batchOfTask.has(r.id)) batchOfTask.get(r.id).loads.add(r.value.loadId);
// Batches whose queue ran dry stay warm (model loaded, lease held) for keepAliveMs; close() ends them.
await scheduler.close();

console.log('\nBatches (a batch loads its model once, however many tasks it runs)');
table(
  ['#', 'type', 'device', 'lease GB', 'tasks', 'model loads', 'start → end ms'],
  batches.map((b) => [b.n, b.type, b.device, gb(b.leaseGb), b.tasks, b.loads.size, `${Math.round(b.start)} → ${Math.round(b.end)}`]),
);

console.log('\nPer type');
table(
  ['type', 'tasks', 'failed', 'tokens', 'mean wait ms', 'mean run ms', 'a result'],
  Object.keys(CATALOG).map((type) => {
    const mine = results.filter((r) => r.type === type);
    const mean = (f) => (mine.length ? Math.round(mine.reduce((s, r) => s + f(r), 0) / mine.length) : '-');
    const ok = mine.find((r) => r.status === 'succeeded');
    const tokens = mine.reduce((sum, r) => sum + (r.value?.tokens ?? 0), 0);
    const failed = mine.filter((r) => r.status !== 'succeeded').length;
    return [type, mine.length, failed, tokens || '-', mean((r) => r.startedAt - r.queuedAt), mean((r) => r.finishedAt - r.startedAt), ok?.value.text.slice(0, 48) ?? '-'];
  }),
);

console.log('\nPeak reserved VRAM (sampled at every batch event)');
let overCapacity = false;
table(
  ['device', 'peak GB', 'capacity GB', 'check'],
  devices.map((d) => {
    const over = peak.get(d.id) > d.vramGb;
    overCapacity ||= over;
    return [d.id, gb(peak.get(d.id)), gb(d.vramGb), over ? 'OVER CAPACITY: this is a bug' : 'ok'];
  }),
);

if (refused.size > 0) console.log(`\nRefused at submit (nothing stored): ${[...refused].map(([key, n]) => `${key} ×${n}`).join(', ')}`);
console.log(`\nWall time: ${Math.round(wallMs)} ms for ${results.length} tasks (${results.filter((r) => r.status === 'succeeded').length} succeeded)`);
process.exitCode = overCapacity ? 1 : 0;

// ---- helpers ------------------------------------------------------------------------------------
function table(headers, rows) {
  const cells = [headers, ...rows].map((row) => row.map(String));
  const widths = headers.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const numeric = headers.map((_, c) => rows.every((row) => typeof row[c] === 'number' || /^[\d.∞-]+$/.test(String(row[c]))));
  for (const row of cells) console.log('  ' + row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd());
}

/** A tiny seeded PRNG (mulberry32): floats in [0, 1). */
function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function usage(message) {
  console.error(`${message}\n\n${HELP}`);
  process.exit(2);
}
