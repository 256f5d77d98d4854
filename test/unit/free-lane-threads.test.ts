/**
 * The free lane's threads take claimed tasks from its board themselves. What that must keep:
 * a task waiting on the board can be withdrawn at once (a cancel or timeout does not wait for
 * the task ahead of it); a hard stop or a crash ends only the task its thread ran, and the tasks
 * waiting behind it run in a fresh thread, in order; an idle thread never leaves a task waiting
 * behind a long one; a thread that dies between tasks is reported and replaced.
 */
import { pathToFileURL } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ResolvedType } from '../../dist/config.js';
import { StopTrigger, type TaskStops } from '../../dist/actors/task-controls.js';
import { LaneThreads } from '../../dist/threads/lane-threads.js';
import { LaneBoard } from '../../dist/threads/lane-board.js';
import type { ServeMessage } from '../../dist/threads/protocol.js';
import { Pools } from '../../dist/threads/pools.js';
import { VramLedger } from '../../dist/threads/vram-ledger.js';
import { Gate } from '../support/gate.js';
import { fixture } from '../support/scheduler.js';

const open: Pools[] = [];
let gate: Gate | undefined;
afterEach(async () => {
  gate?.releaseAll();
  await Promise.all(open.splice(0).map((pools) => pools.close()));
  gate?.close();
  gate = undefined;
});

/** `quickMs`: Infinity makes every task count as quick, so a thread always holds replies for the end of its turn. */
function lane(threads: number, handler: string, names = ['chores'], quickMs?: number) {
  const type = (name: string): ResolvedType => ({
    name, handlerUrl: pathToFileURL(fixture(handler)).href, gpu: false, vramMiB: 0, budgetSource: 'none', concurrency: 1, threads: 1, timeoutMs: 0,
    retries: 0, retryBackoffMs: 0, idempotent: false, preemptible: false, keepAliveMs: 0, kvGbPer1kTokens: 0, ramGb: 0,
  });
  const failures: unknown[] = [];
  const pools = new Pools({
    types: new Map(names.map((name) => [name, type(name)])),
    ledger: VramLedger.create([{ capacityMiB: 1024 }]).buffer,
    freeLaneThreads: threads,
    logLevel: 'silent',
    serviceName: 'free-lane-test',
    abortChannel: `free-lane-test-${process.pid}-${open.length}`,
    threadGone: () => undefined,
    threadFailed: (error) => failures.push(error),
    appCalls: { progress: () => undefined, submit: () => Promise.reject(new Error('no app calls in this test')) },
    ...(quickMs === undefined ? {} : { quickMs }),
  });
  open.push(pools);
  let seq = 0;
  const runAs = (type: string, payload: unknown, stops?: TaskStops) => pools.run({ op: 'run', taskId: `task-${++seq}`, seq, type, payload }, stops);
  const run = (payload: unknown, stops?: TaskStops) => runAs(names[0]!, payload, stops);
  return { run, runAs, failures, pools };
}

const stops = () => ({ asked: new StopTrigger(), hardStop: new StopTrigger() });
const tag = (t: string) => ({ tag: t });
const startedTags = (g: Gate) => g.started.map((s) => s.started);

describe('the free lane\'s board', () => {
  it('withdraws a task waiting behind a running one at once, and its handler never starts', async () => {
    gate = new Gate();
    const { run } = lane(1, 'gated-handler.mjs');
    const first = run(tag('a'));
    await gate.waitForStarted(1);
    const waiting = stops();
    const second = run(tag('b'), waiting);
    const third = run(tag('c'));
    waiting.asked.abort('cancelled');
    await expect(second).rejects.toThrow(/withdrawn/);
    gate.release('a');
    expect(await first).toMatchObject({ ok: true, value: { tag: 'a' } });
    await gate.waitForStarted(2);
    gate.release('c');
    expect(await third).toMatchObject({ ok: true, value: { tag: 'c' } });
    expect(startedTags(gate)).toEqual(['a', 'c']);
  });

  it('a hard stop ends only its own task: the tasks waiting behind it run in a fresh thread, in order', async () => {
    gate = new Gate();
    const { run, failures } = lane(1, 'gated-handler.mjs');
    const first = stops();
    const running = run(tag('a'), first);
    const [a] = await gate.waitForStarted(1);
    const behind = ['b', 'c', 'd'].map((t) => run(tag(t)));
    first.hardStop.abort('cancelled');
    await expect(running).rejects.toThrow();
    gate.releaseAll();
    const replies = await Promise.all(behind);
    expect(replies.map((r) => (r as { value: { tag: string } }).value.tag)).toEqual(['b', 'c', 'd']);
    expect(startedTags(gate)).toEqual(['a', 'b', 'c', 'd']);
    expect(new Set(gate.started.slice(1).map((s) => s.thread))).not.toContain(a!.thread);
    expect(failures).toEqual([]); // a thread stopped on purpose is not reported as a failure
  });

  it('a thread that crashes mid-task fails that task alone; the tasks behind it still run', async () => {
    const { run } = lane(1, 'worker-exits.mjs');
    const crashing = run({ crash: true });
    const behind = [run({}), run({})];
    await expect(crashing).rejects.toThrow();
    expect(await Promise.all(behind)).toMatchObject([{ ok: true, value: 'ok' }, { ok: true, value: 'ok' }]);
  });

  it('a thread that dies before posting the replies it holds fails those tasks too, not leaves them waiting', async () => {
    const { run } = lane(1, 'worker-exits.mjs', ['chores'], Number.POSITIVE_INFINITY);
    expect(await run({})).toMatchObject({ ok: true });
    // One post: the thread finishes the first, holds its reply for the end of its turn, and exits in the second.
    const finished = run({});
    const crashing = run({ crash: true });
    await expect(crashing).rejects.toThrow();
    await expect(finished).rejects.toThrow();
    expect(await run({})).toMatchObject({ ok: true, value: 'ok' });
  });

  it('a hard stop reaches a task whose reply its thread holds behind a task that blocks the thread', async () => {
    const { run } = lane(1, 'blocking-handler.mjs', ['chores'], Number.POSITIVE_INFINITY);
    expect(await run({})).toMatchObject({ ok: true });
    const announce = `vram-scheduler-test-blocking-${process.pid}`;
    const channel = new BroadcastChannel(announce);
    try {
      const blocking = new Promise((resolve) => (channel.onmessage = resolve));
      const held = stops();
      // One post: the first ends and its reply waits for the end of the turn; the second blocks the thread.
      const finished = run({}, held);
      const blocker = run({ blockMs: 20_000, announce });
      await blocking;
      held.asked.abort('timeout');
      held.hardStop.abort('timeout');
      await expect(finished).rejects.toThrow(); // its thread was terminated: it does not wait 20 s
      await expect(blocker).rejects.toThrow();
    } finally {
      channel.close();
    }
  });

  it('posts the replies it holds before it starts a task whose type ran long: a quick reply does not wait behind it', async () => {
    const { runAs } = lane(1, 'blocking-handler.mjs', ['quick', 'slow']);
    await runAs('quick', {});
    await runAs('slow', { blockMs: 20 }); // the type ran long in this thread (past QUICK_MS)
    const answeredAt: Record<string, number> = {};
    const answered = (name: string) => (reply: unknown) => ((answeredAt[name] = performance.now()), reply);
    // One post: the quick task's reply is held for the end of the turn, then the slow task blocks the thread.
    const quick = runAs('quick', {}).then(answered('quick'));
    const slow = runAs('slow', { blockMs: 300 }).then(answered('slow'));
    expect(await Promise.all([quick, slow])).toMatchObject([{ ok: true }, { ok: true }]);
    expect(answeredAt.slow! - answeredAt.quick!).toBeGreaterThan(150);
  });

  it('an idle thread takes the next task while another thread runs a long one', async () => {
    gate = new Gate();
    const { run } = lane(2, 'gated-handler.mjs');
    const long = run(tag('long'));
    await gate.waitForStarted(1);
    const short = ['s1', 's2', 's3'].map((t) => run(tag(t)));
    for (const [k, t] of ['s1', 's2', 's3'].entries()) {
      await gate.waitForStarted(2 + k);
      gate.release(t);
      expect(await short[k]).toMatchObject({ ok: true, value: { tag: t } });
    }
    expect(startedTags(gate)).toEqual(['long', 's1', 's2', 's3']);
    gate.release('long');
    expect(await long).toMatchObject({ ok: true, value: { tag: 'long' } });
  });

  it('a thread that dies between tasks is reported, and the next task runs in a fresh one', async () => {
    const { run, failures } = lane(1, 'error-after-result.mjs');
    expect(await run({ late: 'throw' })).toMatchObject({ ok: true, value: 'ok' });
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    expect(String(failures[0])).toContain('thrown after the task returned');
    expect(await run({})).toMatchObject({ ok: true, value: 'ok' });
  });

  it('a thread busy with a long task does not keep the tasks other threads took meanwhile', async () => {
    const { run } = lane(2, 'heap-held-handler.mjs');
    const channel = new BroadcastChannel('vram-scheduler-test-heap-held');
    try {
      const heldStarted = new Promise((resolve) => (channel.onmessage = resolve));
      const held = run({ hold: true });
      await heldStarted;
      // 2000 tasks of 20 kB (40 MB in all), in waves, each wave done before the next is posted.
      for (let wave = 0; wave < 40; wave++) {
        await Promise.all(Array.from({ length: 50 }, (_, n) => run({ text: 'x'.repeat(20_000) + n })));
      }
      channel.postMessage({ release: true });
      const reply = (await held) as { ok: true; value: { grownBytes: number } };
      expect(reply.value.grownBytes).toBeLessThan(10 * 2 ** 20);
    } finally {
      channel.close();
    }
  });

  it('a ring full of withdrawn tasks (every thread busy) keeps one retry timer, however many tasks wait', async () => {
    gate = new Gate();
    const { run } = lane(1, 'gated-handler.mjs');
    const held = run(tag('held'));
    await gate.waitForStarted(1);
    // The lane's retry timers are counted, and run only when vi.waitFor() advances them.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      // One thread and its ring of 512: withdrawn tasks keep their slots until the thread passes them.
      for (let k = 0; k < 600; k++) {
        const waiting = stops();
        const task = run(tag(`w${k}`), waiting);
        await new Promise((resolve) => setImmediate(resolve)); // published (while there is room)
        waiting.asked.abort('cancelled');
        await expect(task).rejects.toThrow(/withdrawn/);
      }
      const live = Array.from({ length: 20 }, (_, k) => run(tag(`live${k}`)));
      await new Promise((resolve) => setImmediate(resolve));
      expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
      gate.releaseAll();
      expect(await held).toMatchObject({ ok: true, value: { tag: 'held' } });
      await vi.waitFor(() => expect(gate!.started).toHaveLength(21));
      expect(await Promise.all(live)).toHaveLength(20);
      expect(startedTags(gate)).toEqual(['held', ...live.map((_, k) => `live${k}`)]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers a task its threads cannot be sent (submit refuses such a payload; a checkpoint could still hold one) with INVALID_PAYLOAD, not as a crash to retry', async () => {
    const { run } = lane(1, 'echo-handler.mjs');
    expect(await run({ shared: new SharedArrayBuffer(8) })).toMatchObject({ ok: false, error: { code: 'INVALID_PAYLOAD', message: expect.stringMatching(/SharedArrayBuffer/) } });
    expect(await run({ fine: true })).toMatchObject({ ok: true }); // the lane goes on
  });

  it('close() fails the tasks no thread answered', async () => {
    gate = new Gate();
    const { run, pools } = lane(1, 'gated-handler.mjs');
    const running = run(tag('a'));
    await gate.waitForStarted(1);
    const waiting = run(tag('b'));
    const outcomes = Promise.allSettled([running, waiting]);
    await pools.close();
    const [ran, waited] = await outcomes;
    expect(ran.status).toBe('rejected');
    expect(waited).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/closed/) } });
  });
});

/** A stand-in for Piscina: each lane's `serve` task is held here, so a test plays its thread. */
function fakePool() {
  const serves: { message: ServeMessage; fail(error: Error): void }[] = [];
  const pool = {
    threads: [],
    run: (message: ServeMessage) => new Promise((_, fail) => serves.push({ message, fail })),
  };
  return { pool, serves };
}

describe('the free lane\'s threads (a stand-in pool)', () => {
  it('a fresh thread that dies before it listens fails no task another thread is running', async () => {
    const { pool, serves } = fakePool();
    const threads = new LaneThreads({ pool: pool as never, threads: 2, perThread: 1, channel: `free-lane-fake-${process.pid}`, threadFailed: () => undefined });
    const board = LaneBoard.attach(serves[0]!.message.board, 2);
    board.serve(0, 101);
    board.serve(1, 102);
    const running = threads.run({ op: 'run', taskId: 'long', seq: 1, type: 'chores', payload: {} });
    const waiting = threads.run({ op: 'run', taskId: 'next', seq: 2, type: 'chores', payload: {} });
    await new Promise((resolve) => setImmediate(resolve)); // published at indices 0 and 1
    expect(board.take(0, 0)).toBe(true); // lane 0's thread runs the first
    serves[1]!.fail(new Error('lane 1 died between tasks'));
    await vi.waitFor(() => expect(serves).toHaveLength(3)); // lane 1 started again
    serves[2]!.fail(new Error('the fresh thread could not start'));
    await new Promise((resolve) => setImmediate(resolve));
    threads.report({ vramSchedulerLane: 'replies', replies: [{ index: 0, reply: { ok: true, value: 'first' } }] });
    expect(await running).toEqual({ ok: true, value: 'first' });
    expect(board.take(1, 0)).toBe(true); // lane 0's thread is still there for the task that waited
    threads.report({ vramSchedulerLane: 'replies', replies: [{ index: 1, reply: { ok: true, value: 'second' } }] });
    expect(await waiting).toEqual({ ok: true, value: 'second' });
    threads.close();
  });

  it('when no thread is left that could take them, the waiting tasks fail instead of hanging', async () => {
    const { pool, serves } = fakePool();
    const threads = new LaneThreads({ pool: pool as never, threads: 1, perThread: 1, channel: `free-lane-fake-${process.pid}-one`, threadFailed: () => undefined });
    LaneBoard.attach(serves[0]!.message.board, 1).serve(0, 101);
    const waiting = threads.run({ op: 'run', taskId: 'next', seq: 1, type: 'chores', payload: {} });
    await new Promise((resolve) => setImmediate(resolve));
    serves[0]!.fail(new Error('died between tasks'));
    await vi.waitFor(() => expect(serves).toHaveLength(2));
    serves[1]!.fail(new Error('the fresh thread could not start'));
    await expect(waiting).rejects.toThrow('the fresh thread could not start');
    threads.close();
  });
});

describe('what a free-lane handler receives', () => {
  it('typed arrays as structured clone delivers them: each on its own ArrayBuffer, not on memory shared with the other tasks posted with it', async () => {
    const { run } = lane(1, 'payload-shape-handler.mjs');
    const payload = () => ({ floats: new Float32Array([1.5, 2.5]), bytes: new Uint8Array([7, 8, 9]), part: new Uint8Array(new ArrayBuffer(16), 4, 4), buffer: Buffer.alloc(3, 'hey') });
    const cloned = { kind: 'Uint8Array', byteOffset: 0, buffer: 'ArrayBuffer' };
    const expected = {
      floats: { kind: 'Float32Array', values: [1.5, 2.5], byteOffset: 0, buffer: 'ArrayBuffer', bufferBytes: 8 },
      bytes: { ...cloned, values: [7, 8, 9], bufferBytes: 3 },
      part: { ...cloned, values: [0, 0, 0, 0], byteOffset: 4, bufferBytes: 16 },
      buffer: { ...cloned, values: [...Buffer.from('hey')], bufferBytes: 3 }, // a Buffer clones to a Uint8Array
    };
    // Two tasks of one turn travel in one post.
    const replies = await Promise.all([run(payload()), run(payload())]);
    for (const reply of replies) expect(reply).toMatchObject({ ok: true, value: expected });
  });
});
