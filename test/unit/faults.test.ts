import { afterEach, describe, expect, it } from 'vitest';
import type { TaskResult, TypeOptions } from 'vram-scheduler';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

/**
 * Submits a task whose handler kills its thread, then a plain one of the same type, and checks
 * what every such death must leave: the first fails with WORKER_CRASHED (the only failure), the
 * next succeeds, and the lease comes back. Returns the crashed task's result.
 */
async function crashThenNext(type: TypeOptions, crashPayload: object): Promise<TaskResult> {
  const s = await start({ types: { t: type } });
  const failed: string[] = [];
  s.on('task:failed', (r) => failed.push(r.error!.code));
  const crash = await s.submit('t', crashPayload);
  const next = await s.submit('t', {});
  const result = await s.wait(crash.id);
  expect(result).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
  expect(await s.wait(next.id)).toMatchObject({ status: 'succeeded', value: 'ok' });
  await s.drain();
  expect(failed).toEqual(['WORKER_CRASHED']);
  expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  return result;
}

describe('faults in handlers and worker threads', () => {
  it('a handler that throws fails its task (HANDLER_ERROR, message kept); the batch goes on', async () => {
    const s = await start({ types: { t: { handler: fixture('handler-throws.mjs'), vramGb: 2 } } });
    const bad = await s.submit('t', { fail: 'once' });
    const good = await s.submit('t', {});
    expect(await s.wait(bad.id)).toMatchObject({ status: 'failed', error: { code: 'HANDLER_ERROR', message: 'boom once' } });
    expect(await s.wait(good.id)).toMatchObject({ status: 'succeeded', value: 'ok' });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it.each([
    ['process.exit in the worker', 'worker-exits.mjs'],
    ['an uncaught error in the worker', 'worker-uncaught.mjs'],
  ])('%s fails the task (WORKER_CRASHED), returns its lease, and the next task runs', async (_name, handler) => {
    await crashThenNext({ handler: fixture(handler), vramGb: 2 }, { crash: true });
  });

  it('a handler that allocates without bound ends its thread at maxHeapMb (WORKER_CRASHED), returns its lease, and the next task runs', async () => {
    const result = await crashThenNext({ handler: fixture('memory-blowup.mjs'), vramGb: 2, maxHeapMb: 32 }, { blowUp: true });
    expect(result.error!.message).toContain('memory limit');
  });

  it('the smallest maxHeapMb accepted still starts a thread that runs tasks', async () => {
    const s = await start({ types: { t: { handler: fixture('echo-handler.mjs'), vramGb: 2, maxHeapMb: 16 } } });
    expect(await s.run('t', { n: 1 })).toMatchObject({ status: 'succeeded', value: { payload: { n: 1 } } });
  });

  it('returns VRAM a task grew before its thread died', async () => {
    // Kept warm, so that the batch's lease is all that remains (the lease's own return is crashThenNext's).
    const s = await start({ types: { t: { handler: fixture('worker-exits.mjs'), vramGb: 2, keepAliveMs: 60_000 } } });
    let reservedWhileRunning = -1;
    s.on('task:failed', () => (reservedWhileRunning = s.snapshot().devices[0]!.reservedGb));
    const crash = await s.submit('t', { crash: true, growGb: 3 });
    expect(await s.wait(crash.id)).toMatchObject({ error: { code: 'WORKER_CRASHED' } });
    expect(reservedWhileRunning).toBe(2); // the grown 3 GB came back at once; the batch lease remains
    await s.drain();
    expect(s.snapshot()).toMatchObject({ devices: [{ reservedGb: 2 }], batches: [{ type: 't', state: 'warm' }] });
  });

  it('a thread that dies holding the ledger lock does not stall anyone: the lock is recovered', async () => {
    const s = await start({ types: { t: { handler: fixture('dies-holding-ledger-lock.mjs'), vramGb: 2 } } });
    const crash = await s.submit('t', { crash: true });
    const next = await s.submit('t', {});
    expect(await s.wait(crash.id)).toMatchObject({ error: { code: 'WORKER_CRASHED' } });
    expect(await s.wait(next.id)).toMatchObject({ status: 'succeeded' });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  }, 4_000);

  it('a model that fails to load fails its tasks with MODEL_LOAD_FAILED, not forever retried', async () => {
    const s = await start({ types: { t: { handler: fixture('load-throws.mjs'), vramGb: 2 } } });
    const ids = await Promise.all([1, 2, 3].map((n) => s.submit('t', { n })));
    for (const { id } of ids) {
      const result = await s.wait(id);
      expect(result).toMatchObject({ status: 'failed', error: { code: 'MODEL_LOAD_FAILED' } });
      expect(result.error!.message).toContain('weights not found');
    }
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('a module that does not export defineHandler() fails clearly', async () => {
    const s = await start({ types: { t: { handler: fixture('not-a-handler.mjs'), gpu: false } } });
    const result = await s.run('t', {});
    expect(result).toMatchObject({ status: 'failed', error: { code: 'MODEL_LOAD_FAILED' } });
    expect(result.error!.message).toContain('export default defineHandler');
  });
});

describe('event listeners', () => {
  it('a listener that throws does not break submit, results or waiters', async () => {
    const s = await start({ types: { t: { handler: fixture('handler-throws.mjs'), vramGb: 1 } } });
    for (const event of ['task:queued', 'task:started', 'task:succeeded', 'batch:started', 'batch:ended'] as const) {
      s.on(event, () => {
        throw new Error(`listener of ${event}`);
      });
    }
    expect(await s.run('t', {})).toMatchObject({ status: 'succeeded', value: 'ok' });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });
});
