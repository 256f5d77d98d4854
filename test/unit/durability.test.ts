import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskResult } from 'vram-scheduler';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const types = {
  quick: { handler: fixture('echo-handler.mjs'), vramGb: 1 },
  slow: { handler: fixture('echo-handler.mjs'), vramGb: 5 },
  other: { handler: fixture('echo-handler.mjs'), vramGb: 5 },
};

/** Runs the crash child until `until(line)` is true, then SIGKILLs it; returns every line it printed. */
async function runAndKill(dataDir: string, mode: string, until: (line: Record<string, unknown>, all: Record<string, unknown>[]) => boolean) {
  const child = spawn(process.execPath, [fixture('crash-child.mjs'), dataDir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const exited = once(child, 'exit');
  for await (const text of createInterface({ input: child.stdout })) {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    if (until(line, lines)) break;
  }
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
  return lines;
}

describe('durability across a crash (real child process, SIGKILL)', () => {
  it('keeps queued tasks in order, fails the running one as INTERRUPTED, keeps finished results', async () => {
    const dataDir = tempDir();
    const lines = await runAndKill(dataDir, 'mixed', (line) => line.ready === true);
    const doneId = lines.find((l) => l.done)!.done as string;
    const runningId = lines.find((l) => l.running)!.running as string;
    const queued = lines.filter((l) => l.queued).map((l) => l.queued as string);
    expect(queued).toHaveLength(3);

    const s = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 6 }], types });
    const startedOrder: string[] = [];
    s.on('task:started', (e) => startedOrder.push(e.id));

    expect(await s.result(doneId)).toMatchObject({ status: 'succeeded', value: { payload: { n: 'done' } } });
    expect(await s.result(runningId)).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    const results: TaskResult[] = await Promise.all(queued.map((id) => s.wait(id)));
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(results.map((r) => (r.value as { payload: { n: number } }).payload.n)).toEqual([2, 3, 1]);
    // FIFO within the type: slow #2 started before slow #3.
    expect(startedOrder.indexOf(queued[0]!)).toBeLessThan(startedOrder.indexOf(queued[1]!));
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('queues a task of an idempotent type again after a crash, instead of failing it', async () => {
    const dataDir = tempDir();
    const lines = await runAndKill(dataDir, 'mixed', (line) => line.ready === true);
    const runningId = lines.find((l) => l.running)!.running as string;
    const s = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 6 }], types: { ...types, slow: { ...types.slow, idempotent: true } } });
    expect(await s.wait(runningId)).toMatchObject({ status: 'succeeded', value: { payload: { n: 1 } } });
    expect(await s.get(runningId)).toMatchObject({ attempts: 2, lastError: { code: 'INTERRUPTED' } });
  });

  it('never loses an acknowledged submit, whenever the process dies', async () => {
    const dataDir = tempDir();
    const lines = await runAndKill(dataDir, 'flood', (_line, all) => all.length >= 200);
    const acked = lines.map((l) => l.acked as string);

    const s = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 6 }], types, maxQueueDepth: 100_000 });
    const results = await Promise.all(acked.map((id) => s.wait(id)));
    // Each ends exactly once: finished before the kill, interrupted by it, or run after the restart.
    for (const result of results) {
      expect(['succeeded', 'failed']).toContain(result.status);
      if (result.status === 'failed') expect(result.error?.code).toBe('INTERRUPTED');
    }
    expect(results.filter((r) => r.status === 'failed').length).toBeLessThanOrEqual(2);
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('close() lets running tasks finish and leaves queued ones stored for the next start', async () => {
    const dataDir = tempDir();
    const gate = new Gate();
    const first = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 6 }], types: { ...types, slow: { handler: fixture('gated-handler.mjs'), vramGb: 5 } } });
    const startedInFirst: string[] = [];
    first.on('task:started', (e) => startedInFirst.push(e.id));
    const a = await first.submit('slow', { tag: 'a' });
    await gate.waitForStarted(1);
    const b = await first.submit('other', { n: 2 }); // cannot fit beside `slow`: waits
    const closing = first.close();
    await expect(first.submit('quick', {})).rejects.toMatchObject({ code: 'SCHEDULER_CLOSED' });
    gate.release('a');
    await closing;
    gate.close();
    expect(first.snapshot().state).toBe('stopped');
    expect(startedInFirst).toEqual([a.id]);

    const second = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 6 }], types });
    expect(await second.result(a.id)).toMatchObject({ status: 'succeeded', value: { tag: 'a' } });
    expect(await second.wait(b.id)).toMatchObject({ status: 'succeeded', value: { payload: { n: 2 } } });
  });
});

describe('close() during submits', () => {
  it('waits for submits being committed: each is either refused or stored', async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir, types });
    const submits = Array.from({ length: 50 }, (_, n) => first.submit('quick', { n }));
    const closing = first.close();
    const settled = await Promise.allSettled(submits);
    await closing;
    const acked = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
    for (const r of settled) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'SCHEDULER_CLOSED' });
    expect(acked.length).toBeGreaterThan(0);

    const second = await start({ dataDir, types });
    const results = await Promise.all(acked.map((id) => second.wait(id)));
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
  });
});
