/**
 * Threads that die while running no task: a timer a handler left behind throws or allocates past
 * the type's heap limit after its task returned. The process must survive (Piscina reports such a
 * death as an 'error' event, fatal when nobody listens), the death is reported, and the type's
 * next task runs in a fresh thread.
 */
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ResolvedType } from '../../dist/config.js';
import { StopTrigger } from '../../dist/actors/task-controls.js';
import { Pools } from '../../dist/threads/pools.js';
import { VramLedger } from '../../dist/threads/vram-ledger.js';
import { fixture } from '../support/scheduler.js';

const open: Pools[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((pools) => pools.close()));
});

function poolsFor(type: Partial<ResolvedType>) {
  const resolved: ResolvedType = {
    name: 't', handlerUrl: pathToFileURL(fixture('error-after-result.mjs')).href, gpu: true, vramMiB: 1024, budgetSource: 'options', concurrency: 1, timeoutMs: 0,
    retries: 0, retryBackoffMs: 0, idempotent: false, preemptible: false, keepAliveMs: 0, kvGbPer1kTokens: 0, ramGb: 0, ...type,
  };
  const gone: number[] = [];
  let failed!: (error: unknown) => void;
  const failure = new Promise<unknown>((resolve) => (failed = resolve));
  const pools = new Pools({
    types: new Map([['t', resolved]]),
    ledger: VramLedger.create([{ capacityMiB: 4096 }]).buffer,
    freeLaneThreads: 1,
    logLevel: 'silent',
    serviceName: 'pools-test',
    abortChannel: `pools-test-${process.pid}`,
    threadGone: (threadId) => gone.push(threadId),
    threadFailed: failed,
    appCalls: { progress: () => undefined, submit: () => Promise.reject(new Error('no app calls in this test')) },
  });
  open.push(pools);
  let seq = 0;
  const run = (payload: unknown, hardStop?: StopTrigger) => pools.run({ op: 'run', taskId: `task-${++seq}`, seq, type: 't', payload }, hardStop && { asked: new StopTrigger(), hardStop });
  return { run, failure, gone };
}

describe('a thread that dies between tasks', () => {
  it.each([
    ['an error thrown after the task returned', 'throw', {}, 'thrown after the task returned'],
    ['memory allocated past maxHeapMb after the task returned', 'allocate', { maxHeapMb: 32 }, 'memory limit'],
  ] as const)('%s: reported, the process goes on, and the next task runs in a fresh thread', async (_label, late, type, message) => {
    const { run, failure, gone } = poolsFor(type);
    expect(await run({ late })).toMatchObject({ ok: true, value: 'ok' });
    expect(String(await failure)).toContain(message);
    await vi.waitFor(() => expect(gone).toHaveLength(1)); // reported once the dead thread's exit arrives
    expect(await run({})).toMatchObject({ ok: true, value: 'ok' });
  });
});

describe('the model load time (it lengthens the quantum of a slow-loading type)', () => {
  it('comes with the first reply after the load, and only with that one', async () => {
    const { run } = poolsFor({ handlerUrl: pathToFileURL(fixture('slow-load-handler.mjs')).href });
    const [first, second] = await Promise.all([run('a'), run('b')]);
    expect(first).toMatchObject({ ok: true, value: 'a' });
    expect(first!.loadMs).toBeGreaterThanOrEqual(1500); // the fixture's load() sleeps 1.5 s
    expect(second).toEqual({ ok: true, value: 'b' });
    expect(await run('c')).toEqual({ ok: true, value: 'c' });
  });
});

describe('a hard stop in a GPU type\'s thread', () => {
  it('ends a task still waiting for the replacement of a terminated thread, instead of leaving it pending', async () => {
    const { run, gone } = poolsFor({ handlerUrl: pathToFileURL(fixture('hang-handler.mjs')).href });
    const first = new StopTrigger();
    const running = run('a', first);
    first.abort('cancelled');
    await expect(running).rejects.toThrow(); // its thread was terminated; a replacement starts
    const queued = new StopTrigger();
    const waiting = run('b', queued); // Piscina queues it until the replacement is ready
    queued.abort('cancelled');
    await expect(waiting).rejects.toThrow();
    await vi.waitFor(() => expect(gone).toHaveLength(2));
  });
});
