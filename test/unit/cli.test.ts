/** The status CLI as a user runs it: a separate process reading the store of a scheduler that is running. */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { TaskRecord } from 'vram-scheduler';
import { gatePerTest } from '../support/gate.js';
import { fixture, start, tempDir } from '../support/scheduler.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const run = promisify(execFile);
const vramScheduler = (...args: string[]) => run(process.execPath, [cli, ...args]);

const openGate = gatePerTest();

describe('vram-scheduler CLI', () => {
  it('shows queues, running tasks and failures of a live scheduler, as text and JSON', async () => {
    const gate = openGate();
    const dataDir = tempDir();
    const s = await start({
      dataDir,
      types: { gated: { handler: fixture('gated-handler.mjs'), vramGb: 4 }, flaky: { handler: fixture('handler-throws.mjs'), vramGb: 2 } },
    });
    const failedEvent = once(s, 'task:failed');
    const failed = await s.submit('flaky', { fail: 'on purpose' });
    const running = await s.submit('gated', { tag: 'held' });
    await gate.waitForStarted(1);
    await failedEvent;
    const queued = [await s.submit('gated', { tag: 'q1' }, { priority: 'high' }), await s.submit('gated', { tag: 'q2' }), await s.submit('gated', { tag: 'q3' })];

    const { stdout: json } = await vramScheduler('status', '--data-dir', dataDir, '--json');
    const report = JSON.parse(json) as Record<string, unknown>;
    expect(report).toMatchObject({
      queued: { gated: { critical: 0, high: 1, normal: 2, low: 0, total: 3 } },
      running: [{ id: running.id, type: 'gated', device: 'gpu0', attempts: 1 }],
      recentFailures: [{ id: failed.id, type: 'flaky', error: { code: 'HANDLER_ERROR' } }],
      counts: { queued: 3, running: 1, succeeded: 0, failed: 1, cancelled: 0 },
    });
    expect(report.queued).not.toHaveProperty('flaky');

    const { stdout: text } = await vramScheduler('status', '-d', dataDir);
    expect(text).toMatch(/^Queued: 3$/m);
    expect(text).toMatch(/^\s+type\s+critical\s+high\s+normal\s+low\s+total$/m);
    expect(text).toMatch(/^\s+gated\s+0\s+1\s+2\s+0\s+3$/m);
    expect(text).toMatch(new RegExp(`^\\s+${running.id}\\s+gated\\s+gpu0\\s+`, 'm'));
    expect(text).toMatch(new RegExp(`\\s${failed.id}\\s+flaky\\s+HANDLER_ERROR\\s+.*boom on purpose`, 'm'));
    expect(text).toContain('1 running, 0 succeeded, 1 failed');

    const { stdout: record } = await vramScheduler('inspect', failed.id, '--data-dir', dataDir, '--json');
    expect(JSON.parse(record) as TaskRecord).toMatchObject({ id: failed.id, status: 'failed', payload: { fail: 'on purpose' }, error: { code: 'HANDLER_ERROR' } });
    const { stdout: history } = await vramScheduler('inspect', queued[0]!.id, '--data-dir', dataDir);
    expect(history).toMatch(/^\s+status\s+queued$/m);
    expect(history).toMatch(/^\s+priority\s+high$/m);
    expect(history).toMatch(/Z {2}queued$/m);
    expect(history).toContain('"tag": "q1"');

    // The scheduler goes on: the store was only read.
    gate.releaseAll();
    await s.drain();
    expect((await vramScheduler('status', '-d', dataDir, '--json')).stdout).toContain('"succeeded": 4');
  });

  it('fails with a clear message and exit code 1 for an unknown id or a directory without a store', async () => {
    const dataDir = tempDir();
    const s = await start({ dataDir, types: { echo: { handler: fixture('echo-handler.mjs'), vramGb: 1 } } });
    await s.run('echo', {});
    await expect(vramScheduler('inspect', 'no-such-id', '-d', dataDir)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('no task "no-such-id"') });
    await expect(vramScheduler('status', '-d', tempDir())).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('STORE_ERROR') });
    await expect(vramScheduler('status', '-d', dataDir, '--failures', 'x')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('positive integer') });
  });
});
