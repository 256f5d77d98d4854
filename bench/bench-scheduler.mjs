// The scheduler that bench/overhead.mjs and bench/profile.mjs measure: one type `work` running
// bench/noop-handler.mjs, in the free lane or as one GPU type on a simulated 24 GB device.
import { pino } from 'pino';
import { createScheduler } from 'vram-scheduler';

const handler = new URL('./noop-handler.mjs', import.meta.url);

/**
 * `lane` 'free': a `gpu: false` type with `threads` free-lane threads; 'gpu': one GPU type with
 * `threads` threads (a copy of the model in each), one task at a time in each. `window`: tasks in
 * flight at most (the queue holds twice that).
 */
export function benchScheduler(lane, { dataDir, threads, window }) {
  return createScheduler({
    dataDir,
    logger: pino({ level: 'silent' }),
    maxQueueDepth: window * 2,
    freeLaneThreads: threads,
    devices: [{ id: 'gpu0', vramGb: 24 }],
    types: { work: lane === 'gpu' ? { handler, vramGb: 1, threads } : { handler, gpu: false } },
  });
}

/** Submits one task and waits for it; rejects unless it succeeded. Resolves its value. */
export async function runOne(scheduler, cpuMs) {
  const { id } = await scheduler.submit('work', { cpuMs });
  const result = await scheduler.wait(id);
  if (result.status !== 'succeeded') throw new Error(`task ${id} ${result.status}: ${result.error?.code} ${result.error?.message}`);
  return result.value;
}
