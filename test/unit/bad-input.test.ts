import { afterEach, describe, expect, it } from 'vitest';
import { createScheduler } from 'vram-scheduler';
import { TaskStore } from '../../dist/store/task-store.js';
import { Gate } from '../support/gate.js';
import { capturingLogger, closeAll, fixture, silent, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const echo = { handler: fixture('echo-handler.mjs'), vramGb: 2 };

describe('bad input fails fast, at the call, with a typed error', () => {
  it('rejects an unknown type with UNKNOWN_TYPE naming it and the known ones', async () => {
    const s = await start({ types: { echo } });
    const error = await s.submit('ecoh', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNKNOWN_TYPE', name: 'UnknownTypeError' });
    expect((error as Error).message).toContain('"ecoh"');
    expect((error as Error).message).toContain('"echo"');
  });

  it.each([
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('x') }],
    ['a function at the top', () => 1],
    ['shared memory (a thread could not be sent it, and the store could not keep it)', { shared: new SharedArrayBuffer(8) }],
  ])('rejects a payload holding %s with INVALID_PAYLOAD', async (_what, payload) => {
    const s = await start({ types: { echo } });
    await expect(s.submit('echo', payload)).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
  });

  it.each([
    [{ priority: 'urgent' }, 'options.priority'],
    [{ vramGb: -1 }, 'options.vramGb'],
    [{ vramGb: Number.NaN }, 'options.vramGb'],
    [{ vramGb: Number.POSITIVE_INFINITY }, 'options.vramGb'],
    [{ key: '' }, 'options.key'],
    [{ retries: 3 }, 'options.retries'],
  ])('rejects submit options %o with INVALID_OPTIONS naming %s', async (options, path) => {
    const s = await start({ types: { echo } });
    const error = await s.submit('echo', {}, options as never).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect((error as Error).message).toContain(path);
  });

  it('rejects a budget larger than every device with BUDGET_EXCEEDS_DEVICES, per type and per task', async () => {
    const s = await start({
      devices: [
        { id: 'gpu0', vramGb: 24 },
        { id: 'gpu1', vramGb: 24 },
      ],
      types: { echo, big: { handler: fixture('echo-handler.mjs'), vramGb: 30 } },
    });
    await expect(s.submit('big', {})).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES' });
    await expect(s.submit('echo', {}, { vramGb: 25 })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES' });
  });

  it('rejects unknown ids with TASK_NOT_FOUND on wait, result and get', async () => {
    const s = await start({ types: { echo } });
    await expect(s.wait('nope')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await expect(s.result('nope')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await expect(s.get('nope')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  });

  it('rejects every call after close with SCHEDULER_CLOSED', async () => {
    const s = await start({ types: { echo } });
    const { id } = await s.submit('echo', {});
    await s.close();
    await expect(s.submit('echo', {})).rejects.toMatchObject({ code: 'SCHEDULER_CLOSED' });
    await expect(s.wait(id)).rejects.toMatchObject({ code: 'SCHEDULER_CLOSED' });
    await expect(s.result(id)).rejects.toMatchObject({ code: 'SCHEDULER_CLOSED' });
    await s.close(); // idempotent
  });

  it('rejects invalid scheduler options with INVALID_OPTIONS, creating nothing', async () => {
    const dataDir = `${tempDir()}/never-created`;
    await expect(
      createScheduler({ dataDir, logger: silent, types: { echo }, maxQueueDepth: 0 }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(createScheduler({ dataDir, logger: silent, types: {} })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(createScheduler(undefined as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const { existsSync } = await import('node:fs');
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('backpressure', () => {
  it('refuses a submit past maxQueueDepth with QUEUE_FULL, logs a warning, and writes nothing', async () => {
    const gate = new Gate();
    const dataDir = tempDir();
    const { logger, lines } = capturingLogger();
    const s = await start({
      dataDir,
      logger,
      maxQueueDepth: 2,
      devices: [{ id: 'gpu0', vramGb: 4 }],
      types: { blocker: { handler: fixture('gated-handler.mjs'), vramGb: 4 }, echo },
    });
    await s.submit('blocker', { tag: 'b' });
    await gate.waitForStarted(1);
    await s.submit('echo', { n: 1 });
    await s.submit('echo', { n: 2 });
    const refused = await Promise.allSettled([s.submit('echo', { n: 3 }), s.submit('echo', { n: 4 })]);
    expect(refused.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code)).toEqual(['QUEUE_FULL', 'QUEUE_FULL']);
    expect(lines.some((l) => l.level === 40 && l.type === 'echo' && String(l.msg).includes('queue full'))).toBe(true);
    expect(s.snapshot().queues.echo).toBe(2);
    const closing = s.close();
    gate.release('b');
    await closing;
    gate.close();

    const store = TaskStore.open({ dir: dataDir });
    expect(store.counts()).toMatchObject({ queued: 2, succeeded: 1, running: 0, failed: 0 });
    await store.close();
  });

  it('counts submits still being written toward the limit', async () => {
    const s = await start({
      maxQueueDepth: 3,
      devices: [{ id: 'gpu0', vramGb: 4 }],
      types: { blocker: { handler: fixture('gated-handler.mjs'), vramGb: 4 }, echo },
    });
    const gate = new Gate();
    await s.submit('blocker', { tag: 'b' });
    await gate.waitForStarted(1);
    const all = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => s.submit('echo', { n })));
    expect(all.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    gate.releaseAll();
    gate.close();
  });
});
