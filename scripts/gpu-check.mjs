// The real-GPU check: `npm run gpu-check` on a machine with an NVIDIA GPU and nvidia-smi
// (CI has none; the unit tests feed simulated readings instead).
//   node scripts/gpu-check.mjs [--hold-gb 40] [--json out.json]
// 1. Detection: the devices the scheduler finds against nvidia-smi's rows, read here on their own.
// 2. Foreign use: a python3 + PyTorch process (skipped when there is none) holds --hold-gb of
//    device 0. The GPU monitor must see it as external, a task that no longer fits must wait,
//    one that still fits must run, and the waiting task must start once the holder exits.
// 3. A handler's child process: a task whose handler runs such a holder itself. Its VRAM is
//    ours (under the task's lease), not external, and it shows as the type's observed peak.
// Exits 1 if a check fails, 2 if there is no NVIDIA GPU to check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { computeAppsCsv } from '../dist/gpu/nvidia-smi.js';
import { createScheduler } from '../dist/index.js';
import { hasTorch, holdVram, release } from './gpu-check-holder.mjs';

const { values: args } = parseArgs({ options: { 'hold-gb': { type: 'string', default: '40' }, json: { type: 'string' } } });
const holdGb = Number(args['hold-gb']);
const MONITOR_MS = 500;
const CHILD_GB = 8;
const TASK_LIMIT_MS = 60_000;
const checks = [];
const check = (name, ok, detail) => {
  checks.push({ name, ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
};

const smi = nvidiaSmi();
if (smi.length === 0) {
  console.error('nvidia-smi found no NVIDIA GPU: nothing to check here.');
  process.exit(2);
}
for (const gpu of smi) console.log(`nvidia-smi: gpu ${gpu.index} ${gpu.name}, ${gpu.totalMiB} MiB, ${gpu.usedMiB} MiB used, bus ${gpu.bus}`);

const dataDir = mkdtempSync(join(os.tmpdir(), 'gpu-check-'));
const handler = new URL('./gpu-check-handler.mjs', import.meta.url);
const totalGb = smi[0].totalMiB / 1024;
const scheduler = await createScheduler({
  dataDir,
  logger: pino({ level: 'warn' }),
  gpuMonitor: { intervalMs: MONITOR_MS },
  types: {
    // Needs more than device 0 has left while the holder runs, less than the whole card.
    // keepAliveMs 0: no idle batch stays on the card, so the child step's type runs alone there
    // (the monitor compares a type's real use with its lease only then).
    large: { handler, vramGb: Math.floor(totalGb - holdGb / 2), keepAliveMs: 0 },
    small: { handler, vramGb: Math.max(1, Math.floor((totalGb - holdGb) / 4)), keepAliveMs: 0 },
    child: { handler, vramGb: CHILD_GB + 2 },
  },
});
const started = new Map();
scheduler.on('task:started', (e) => started.set(e.id, { at: performance.now(), device: e.device }));

try {
  const devices = scheduler.snapshot().devices;
  check('detected count', devices.length === smi.length, `${devices.length} device(s) detected, nvidia-smi lists ${smi.length}`);
  for (const [i, gpu] of smi.entries()) {
    const seen = devices[i];
    const expectGb = gpu.totalMiB / 1024;
    check(`gpu ${i} size`, seen !== undefined && Math.abs(seen.vramGb - expectGb) < 0.01, `${seen?.id} ${seen?.vramGb} GB, nvidia-smi ${expectGb.toFixed(2)} GB`);
  }
  await new Promise((resolve) => setTimeout(resolve, 3 * MONITOR_MS)); // a few polls, so the reading is the card's
  const idle = scheduler.snapshot().devices[0].externalGb;
  check('idle reading', Math.abs(idle - smi[0].usedMiB / 1024) < 1, `monitor: ${idle} GB used outside the scheduler, nvidia-smi: ${(smi[0].usedMiB / 1024).toFixed(2)} GB used`);

  if (!hasTorch()) {
    console.log('skipped the foreign-use step: python3 cannot import torch');
  } else {
    await foreignUseStep().catch((error) => check('foreign-use step', false, error.message));
    await childProcessStep().catch((error) => check('child-process step', false, error.message));
  }
} finally {
  await scheduler.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const failed = checks.filter((c) => !c.ok);
const report = { measuredAt: new Date().toISOString(), node: process.version, gpus: smi, holdGb, checks };
if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
console.log(failed.length === 0 ? `all ${checks.length} checks passed` : `${failed.length} of ${checks.length} checks FAILED`);
process.exit(failed.length === 0 ? 0 : 1);

async function foreignUseStep() {
  const holder = await holdVram(holdGb, { foreign: true });
  const heldAt = performance.now();
  let large;
  try {
    const external = await until(() => scheduler.snapshot().devices[0].externalGb, (gb) => gb >= holdGb, 15_000);
    console.log(`nvidia-smi compute apps (holder ${holder.pid}, ours ${process.pid}):\n${(await computeAppsCsv()).trim() || '  (none listed)'}`);
    check('foreign use seen', external >= holdGb && external < holdGb + 3, `holder keeps ${holdGb} GB; monitor: ${external} GB external after ${ms(heldAt)} ms`);
    large = (await scheduler.submit('large', { step: 'large' })).id;
    const small = (await scheduler.submit('small', { step: 'small' })).id;
    const smallResult = await finished(small);
    check('a task that fits runs', smallResult.status === 'succeeded', `small (${scheduler.snapshot().devices[0].id}) ${smallResult.status}`);
    // Several monitor polls later the large task must still be waiting for the held VRAM.
    await new Promise((resolve) => setTimeout(resolve, 4 * MONITOR_MS));
    check('a task that does not fit waits', !started.has(large), `large (${Math.floor(totalGb - holdGb / 2)} GB) ${started.has(large) ? 'STARTED' : 'still queued'} with ${scheduler.snapshot().devices[0].externalGb} GB held outside`);
  } finally {
    await release(holder);
  }
  const releasedAt = performance.now();
  if (large === undefined) return;
  const result = await finished(large);
  const startedAfter = started.has(large) ? Math.round(started.get(large).at - releasedAt) : NaN;
  check('it starts once the VRAM is back', result.status === 'succeeded', `large ${result.status} on ${result.device}, started ${startedAfter} ms after the holder exited (monitor polls every ${MONITOR_MS} ms)`);
}

async function childProcessStep() {
  let maxExternal = 0;
  const sampler = setInterval(() => (maxExternal = Math.max(maxExternal, scheduler.snapshot().devices[0].externalGb)), 100);
  const { id } = await scheduler.submit('child', { holdGb: CHILD_GB, holdMs: 6 * MONITOR_MS });
  const result = await finished(id).finally(() => clearInterval(sampler));
  const observed = scheduler.snapshot().observed.child;
  check('a child process of a handler runs', result.status === 'succeeded', `child ${result.status}`);
  check("its VRAM is not counted as another program's", maxExternal < 1, `external use stayed at most ${maxExternal} GB while the child held ${CHILD_GB} GB`);
  check('its VRAM shows as the type\'s real use', observed !== undefined && observed.peakGb >= CHILD_GB && observed.peakGb <= CHILD_GB + 2, `observed peak ${observed?.peakGb} GB against a ${observed?.leaseGb} GB lease`);
}

/** The reference: read and parsed here, apart from the scheduler's own nvidia-smi code, so a bug there cannot hide. */
function nvidiaSmi() {
  let csv;
  try {
    csv = execFileSync('nvidia-smi', ['--query-gpu=index,name,memory.total,memory.used,pci.bus_id', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return csv.trim().split('\n').filter(Boolean).map((line) => {
    const [index, name, total, used, bus] = line.split(',').map((field) => field.trim());
    return { index: Number(index), name, totalMiB: Number(total), usedMiB: Number(used), bus };
  });
}

/** The task's result; after TASK_LIMIT_MS a failed check says where it stands instead of hanging the check. */
async function finished(id) {
  let timer;
  const stuck = new Promise((resolve) => {
    timer = setTimeout(async () => {
      const record = await scheduler.get(id);
      const { batches, devices } = scheduler.snapshot();
      resolve({ status: `still ${record.status} after ${TASK_LIMIT_MS} ms (progress ${JSON.stringify(record.progress)}, batches ${JSON.stringify(batches)}, external ${devices[0].externalGb} GB)` });
    }, TASK_LIMIT_MS);
  });
  return Promise.race([scheduler.wait(id), stuck]).finally(() => clearTimeout(timer));
}

/** Polls `read` every 100 ms until `done(value)`, or throws after `limitMs`. */
async function until(read, done, limitMs) {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (performance.now() > deadline) throw new Error(`gave up waiting after ${limitMs} ms (last value ${value})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function ms(since) {
  return Math.round(performance.now() - since);
}
