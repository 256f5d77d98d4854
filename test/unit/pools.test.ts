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
import { LaneThreads } from '../../dist/threads/lane-threads.js';
import type { LaneReport } from '../../dist/threads/protocol.js';
import { VramLedger } from '../../dist/threads/vram-ledger.js';
import { Gate } from '../support/gate.js';
import { UnloadGate } from '../support/unload-gate.js';
import { fixture } from '../support/scheduler.js';

const open: Pools[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((pools) => pools.close()));
});

function poolsFor(type: Partial<ResolvedType>) {
  const resolved: ResolvedType = {
    name: 't', handlerUrl: pathToFileURL(fixture('error-after-result.mjs')).href, gpu: true, vramMiB: 1024, budgetSource: 'options', concurrency: 1, threads: 1, timeoutMs: 0,
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
  return { run, failure, gone, pools };
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
    expect(second).toMatchObject({ ok: true, value: 'b' });
    expect(second).not.toHaveProperty('loadMs');
    expect(await run('c')).toMatchObject({ ok: true, value: 'c' });
  });
});

describe('a hard stop in a GPU type\'s thread', () => {
  it('terminates the thread running the task; a task still on the board is withdrawn instead; the next runs in a fresh thread', async () => {
    const gate = new Gate();
    try {
      const { run, gone } = poolsFor({ handlerUrl: pathToFileURL(fixture('gated-handler.mjs')).href, concurrency: 2 });
      const first = new StopTrigger();
      const running = run({ tag: 'a' }, first);
      const [a] = await gate.waitForStarted(1);
      first.abort('cancelled');
      await expect(running).rejects.toThrow(); // its thread was terminated; a replacement starts
      const queued = new StopTrigger();
      const waiting = run({ tag: 'b' }, queued); // on the board until the replacement takes it
      queued.abort('cancelled');
      await expect(waiting).rejects.toThrow(/withdrawn/);
      const next = run({ tag: 'c' });
      const [, c] = await gate.waitForStarted(2);
      expect(c!.thread).not.toBe(a!.thread);
      gate.release('c');
      expect(await next).toMatchObject({ ok: true, value: { tag: 'c' } });
      expect(gate.started.map((s) => s.started)).toEqual(['a', 'c']);
      await vi.waitFor(() => expect(gone).toHaveLength(1));
    } finally {
      gate.releaseAll();
      gate.close();
    }
  });

  it('runs `concurrency` tasks at once in its one thread, in claim order, and fails them all when that thread dies', async () => {
    const gate = new Gate();
    try {
      const { run } = poolsFor({ handlerUrl: pathToFileURL(fixture('gated-handler.mjs')).href, concurrency: 2 });
      const first = new StopTrigger();
      const tasks = [run({ tag: 'a' }, first), run({ tag: 'b' }), run({ tag: 'c' })];
      const started = await gate.waitForStarted(2);
      expect(started.map((s) => s.started)).toEqual(['a', 'b']);
      expect(started[0]!.thread).toBe(started[1]!.thread);
      first.abort('cancelled'); // terminates the thread: b fails with it, c runs in the fresh one
      await expect(tasks[0]).rejects.toThrow();
      await expect(tasks[1]).rejects.toThrow();
      const [, , c] = await gate.waitForStarted(3);
      expect(c!.started).toBe('c');
      gate.release('c');
      expect(await tasks[2]).toMatchObject({ ok: true, value: { tag: 'c' } });
    } finally {
      gate.releaseAll();
      gate.close();
    }
  });
});

describe('a GPU type\'s thread with `concurrency` seats', () => {
  it('fails the tasks of all its seats when it runs out of heap, and the next task runs in a fresh thread', async () => {
    const { run, gone } = poolsFor({ handlerUrl: pathToFileURL(fixture('memory-blowup.mjs')).href, concurrency: 2, maxHeapMb: 32 });
    const both = [run({ blowUp: true }), run({})]; // taken together: the second waits behind the runaway first
    for (const task of both) await expect(task).rejects.toThrow(/memory/);
    await vi.waitFor(() => expect(gone).toHaveLength(1));
    expect(await run({})).toMatchObject({ ok: true, value: 'ok' });
  });
});

describe('a GPU type with threads: 2', () => {
  it('runs a task in each thread; a hard stop ends only its own thread\'s task', async () => {
    const gate = new Gate();
    try {
      const { run } = poolsFor({ handlerUrl: pathToFileURL(fixture('gated-handler.mjs')).href, threads: 2 });
      const stopA = new StopTrigger();
      const a = run({ tag: 'a' }, stopA);
      const b = run({ tag: 'b' });
      const started = await gate.waitForStarted(2);
      expect(started[0]!.thread).not.toBe(started[1]!.thread);
      stopA.abort('cancelled');
      await expect(a).rejects.toThrow();
      gate.release('b');
      expect(await b).toMatchObject({ ok: true, value: { tag: 'b' } });
    } finally {
      gate.releaseAll();
      gate.close();
    }
  });

  it('unload() resolves only once every thread has unloaded its copy of the model', async () => {
    const gate = new UnloadGate();
    const { ran, unloading } = gate;
    const reports = vi.spyOn(LaneThreads.prototype, 'report');
    const unloadedReports = () => reports.mock.calls.filter(([m]) => (m as LaneReport).vramSchedulerLane === 'unloaded').length;
    try {
      const { run, pools } = poolsFor({ handlerUrl: pathToFileURL(fixture('unload-gated-handler.mjs')).href, threads: 2 });
      const tasks = [run({ tag: 'a' }), run({ tag: 'b' })];
      await vi.waitFor(() => expect(new Set(ran).size).toBe(2)); // one task held in each thread: both loaded the model
      gate.releaseRuns();
      await Promise.all(tasks);
      let unloaded = false;
      const unload = pools.unload('t').then(() => (unloaded = true));
      await vi.waitFor(() => expect(new Set(unloading)).toEqual(new Set(ran)));
      gate.releaseUnload(unloading[0]);
      await vi.waitFor(() => expect(unloadedReports()).toBe(1));
      await new Promise((resolve) => setImmediate(resolve)); // what that report settles has settled by now
      expect(unloaded).toBe(false); // the other thread still holds its copy
      gate.releaseUnload(unloading[1]);
      await unload;
      expect(unloadedReports()).toBe(2);
    } finally {
      reports.mockRestore();
      gate.close();
    }
  });
});
