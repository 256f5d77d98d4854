/**
 * Threads that die while running no task: a timer a handler left behind throws or allocates past
 * the type's heap limit after its task returned. The process must survive (Piscina reports such a
 * death as an 'error' event, fatal when nobody listens), the death is reported, and the type's
 * next task runs in a fresh thread.
 */
import { pathToFileURL } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ResolvedType } from '../../dist/config.js';
import { HardStop, type ControlMessage } from '../../dist/actors/task-controls.js';
import { Pools } from '../../dist/threads/pools.js';
import type { RunMessage } from '../../dist/threads/protocol.js';
import { VramLedger } from '../../dist/threads/vram-ledger.js';
import { gatePerTest } from '../support/gate.js';
import { fixture } from '../support/scheduler.js';

const open: Pools[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((pools) => pools.close()));
});

function poolsFor(type: Partial<ResolvedType>, freeLaneDepth = 1) {
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
    freeLaneDepth: () => freeLaneDepth,
    logLevel: 'silent',
    serviceName: 'pools-test',
    abortChannel: `pools-test-${process.pid}`,
    threadGone: (threadId) => gone.push(threadId),
    threadFailed: failed,
    appCalls: { progress: () => undefined, submit: () => Promise.reject(new Error('no app calls in this test')) },
  });
  open.push(pools);
  let seq = 0;
  const messages: RunMessage[] = [];
  const run = (payload: unknown, stop?: HardStop) => {
    const message: RunMessage = { op: 'run', taskId: `task-${++seq}`, run: seq, seq, type: 't', payload };
    messages.push(message);
    return pools.run(message, stop);
  };
  return { run, failure, gone, pools, messages };
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
    const first = new HardStop();
    const running = run('a', first);
    first.abort('cancelled');
    await expect(running).rejects.toThrow(); // its thread was terminated; a replacement starts
    const queued = new HardStop();
    const waiting = run('b', queued); // Piscina queues it until the replacement is ready
    queued.abort('cancelled');
    await expect(waiting).rejects.toThrow();
    await vi.waitFor(() => expect(gone).toHaveLength(2));
  });
});

describe("the free lane's line in each thread (a thread holds several tasks and runs them one at a time)", () => {
  const openGate = gatePerTest();
  const gated = { gpu: false, handlerUrl: pathToFileURL(fixture('gated-handler.mjs')).href };
  const abortChannel = () => {
    const channel = new BroadcastChannel(`pools-test-${process.pid}`);
    return { abort: (run: number) => channel.postMessage({ op: 'abort', run, reason: 'cancelled' } satisfies ControlMessage), close: () => channel.close() };
  };

  it('runs the tasks of one thread one after another, in arrival order', async () => {
    const gate = openGate();
    const { run } = poolsFor(gated, 4);
    const replies = [run({ tag: 'a' }), run({ tag: 'b' })];
    await gate.waitForStarted(1);
    gate.release('a');
    await gate.waitForStarted(2);
    expect(gate.started.map((s) => s.started)).toEqual(['a', 'b']);
    gate.release('b');
    expect(await Promise.all(replies)).toMatchObject([{ ok: true, value: { tag: 'a' } }, { ok: true, value: { tag: 'b' } }]);
  });

  it('skips a task stopped while it waited: its handler never runs', async () => {
    const gate = openGate();
    const channel = abortChannel();
    try {
      const { run, messages } = poolsFor(gated, 4);
      const first = run({ tag: 'a', cooperative: true });
      const second = run({ tag: 'b' });
      const third = run({ tag: 'c' }); // behind the stopped one: it still runs
      await gate.waitForStarted(1);
      channel.abort(messages[1]!.run);
      // The first task ends on its own abort, which reaches the thread after the one above (same channel, same sender).
      channel.abort(messages[0]!.run);
      await gate.waitForStarted(2);
      gate.release('c');
      expect(await second).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
      expect(await Promise.all([first, third])).toMatchObject([{ ok: true }, { ok: true }]);
      expect(gate.started.map((s) => s.started)).toEqual(['a', 'c']);
    } finally {
      channel.close();
    }
  });

  it('honours an abort sent before the task was handed over (the two travel on different channels)', async () => {
    const gate = openGate();
    const channel = abortChannel();
    try {
      const { run } = poolsFor(gated, 4);
      const first = run({ tag: 'a', cooperative: true });
      await gate.waitForStarted(1);
      channel.abort(2); // the next run's number, before it exists anywhere
      const second = run({ tag: 'b' });
      channel.abort(1); // the first task ends on it, once the abort above has reached the thread
      expect(await second).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
      expect(await first).toMatchObject({ ok: true });
      expect(gate.started.map((s) => s.started)).toEqual(['a']);
    } finally {
      channel.close();
    }
  });

  it("a crash spends the attempt of the task that was running, not of those waiting behind it; a hard stop finds the running task's thread", async () => {
    const gate = openGate();
    const { run, messages, pools } = poolsFor(gated, 4);
    const stop = new HardStop();
    const running = run({ tag: 'a' }, stop);
    const waiting = run({ tag: 'b' });
    await gate.waitForStarted(1);
    stop.abort('cancelled'); // the handler ignores ctx.signal: its thread is terminated
    await expect(running).rejects.toThrow();
    await expect(waiting).rejects.toThrow();
    expect(pools.startedBeforeCrash(messages[0]!)).toBe(true);
    expect(pools.startedBeforeCrash(messages[1]!)).toBe(false);
    expect(gate.started.map((s) => s.started)).toEqual(['a']);
  });
});
