// `node bench/load.mjs [--tasks N] [--dispatch-tasks M]`: a large queue. One process queues N tasks
// behind a task that holds the only device (so none starts), reports the submit rate and its memory,
// and exits without closing (as a crash would). A second process opens the same data directory and
// reports how long recovery takes until createScheduler() resolves, its memory with N queued, and
// the time to the first dispatch: from the start of createScheduler() until the first queued task
// starts (the holder was running at the kill: recovery fails it INTERRUPTED, which frees the device).
// Done twice: with M (default 100,000) queued for the first dispatch, and with N (default 1,000,000)
// for memory. Writes bench/results/load.json.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';

const { values: args } = parseArgs({ options: { tasks: { type: 'string', default: '1000000' }, 'dispatch-tasks': { type: 'string', default: '100000' }, phase: { type: 'string' }, dir: { type: 'string' } } });
const tasks = Number(args.tasks);
const handler = new URL('../test/fixtures/hang-handler.mjs', import.meta.url);
const options = (dataDir) => ({
  dataDir,
  logger: pino({ level: 'silent' }),
  devices: [{ id: 'gpu0', vramGb: 1 }],
  maxQueueDepth: tasks + 1,
  types: { holder: { handler, vramGb: 1 }, work: { handler, vramGb: 1 } },
});
const mib = (bytes) => Math.round(bytes / 2 ** 20);

if (args.phase === 'fill') {
  const s = await createScheduler(options(args.dir));
  await s.submit('holder', {});
  const window = 10_000;
  const started = performance.now();
  for (let done = 0; done < tasks; done += window) {
    const batch = [];
    for (let i = done; i < Math.min(tasks, done + window); i++) batch.push(s.submit('work', { i }));
    await Promise.all(batch);
  }
  const ms = performance.now() - started;
  global.gc?.();
  console.log(JSON.stringify({ submitPerSec: Math.round(tasks / (ms / 1000)), fillRssMiB: mib(process.memoryUsage().rss), queued: s.snapshot().queues.work }));
  process.exit(0); // no close(): as if the process died
} else if (args.phase === 'recover') {
  const started = performance.now();
  const s = await createScheduler(options(args.dir));
  const recoverMs = performance.now() - started;
  const firstDispatch = new Promise((resolve) => s.once('task:started', () => resolve(performance.now() - started)));
  const queued = s.snapshot().queues.work;
  const firstDispatchMs = await firstDispatch;
  global.gc?.();
  console.log(JSON.stringify({ recoverMs: Math.round(recoverMs), firstDispatchMs: Math.round(firstDispatchMs), recoveredRssMiB: mib(process.memoryUsage().rss), queued }));
  process.exit(0);
} else {
  const measure = (n) => {
    const dir = mkdtempSync(join(os.tmpdir(), 'vs-load-'));
    const run = (phase) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', process.argv[1], '--phase', phase, '--dir', dir, '--tasks', String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop());
    try {
      return { tasks: n, ...run('fill'), ...run('recover') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const dispatch = measure(Number(args['dispatch-tasks']));
  console.log(dispatch);
  const large = measure(tasks);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    notes: ['firstDispatchMs: process already started, from the call to createScheduler() until the first recovered task starts (task:started)'],
    ...large,
    firstDispatchAfterRestart: { queued: dispatch.queued, firstDispatchMs: dispatch.firstDispatchMs, recoverMs: dispatch.recoverMs },
  };
  console.log(result);
  writeFileSync(new URL('./results/load.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}
