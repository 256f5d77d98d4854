/** Prometheus metrics: scraped over loopback as Prometheus would, parsed, and checked against what ran. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { gatePerTest } from '../support/gate.js';
import { occupy } from '../support/ports.js';
import { fixture, start } from '../support/scheduler.js';

const openGate = gatePerTest();

/** Parses the Prometheus text format: `name{labels} value` per sample, `# HELP`/`# TYPE` lines aside. */
function parse(text: string): { samples: { name: string; labels: Record<string, string>; value: number }[]; types: Map<string, string> } {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ name: match[1]!, labels, value: Number(match[3] === '+Inf' ? Infinity : match[3]) });
  }
  return { samples, types };
}

const value = (samples: ReturnType<typeof parse>['samples'], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics', () => {
  it('serves queues, running tasks, outcomes, wait and run times, VRAM and batches at /metrics on 127.0.0.1', async () => {
    const gate = openGate();
    const s = await start({
      metricsPort: 0,
      devices: [{ id: 'gpu0', vramGb: 24 }],
      types: {
        gated: { handler: fixture('gated-handler.mjs'), vramGb: 6 },
        echo: { handler: fixture('echo-handler.mjs'), vramGb: 2 },
        flaky: { handler: fixture('handler-throws.mjs'), vramGb: 1 },
      },
    });
    expect(s.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await s.run('echo', { n: 1 });
    await s.run('echo', { n: 2 });
    await s.run('flaky', { fail: 'x' });
    await s.drain();
    const held = await s.submit('gated', { tag: 'held' });
    await gate.waitForStarted(1);
    await s.submit('gated', { tag: 'h' }, { priority: 'high' });
    await s.submit('gated', { tag: 'n1' });
    await s.submit('gated', { tag: 'n2' });

    const response = await fetch(s.metricsUrl!);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const { samples, types } = parse(await response.text());
    expect(value(samples, 'vram_scheduler_queued_tasks', { type: 'gated', priority: 'high' })).toBe(1);
    expect(value(samples, 'vram_scheduler_queued_tasks', { type: 'gated', priority: 'normal' })).toBe(2);
    expect(value(samples, 'vram_scheduler_queued_tasks', { type: 'gated', priority: 'critical' })).toBe(0);
    expect(value(samples, 'vram_scheduler_running_tasks', { type: 'gated' })).toBe(1);
    expect(value(samples, 'vram_scheduler_running_tasks', { type: 'echo' })).toBe(0);
    expect(value(samples, 'vram_scheduler_tasks_finished_total', { type: 'echo', status: 'succeeded' })).toBe(2);
    expect(value(samples, 'vram_scheduler_tasks_finished_total', { type: 'flaky', status: 'failed' })).toBe(1);
    expect(value(samples, 'vram_scheduler_task_run_seconds_count', { type: 'echo', status: 'succeeded' })).toBe(2);
    expect(value(samples, 'vram_scheduler_task_run_seconds_sum', { type: 'echo', status: 'succeeded' })).toBeGreaterThan(0);
    expect(value(samples, 'vram_scheduler_task_run_seconds_bucket', { type: 'echo', status: 'succeeded', le: '+Inf' })).toBe(2);
    expect(value(samples, 'vram_scheduler_task_wait_seconds_count', { type: 'flaky' })).toBe(1);
    expect(value(samples, 'vram_scheduler_device_vram_bytes', { device: 'gpu0' })).toBe(24 * 1024 ** 3);
    expect(value(samples, 'vram_scheduler_device_reserved_vram_bytes', { device: 'gpu0' })).toBe(6 * 1024 ** 3);
    expect(value(samples, 'vram_scheduler_batches', { type: 'gated', device: 'gpu0', state: 'running' })).toBe(1);
    expect(value(samples, 'vram_scheduler_batches_started_total', { type: 'echo', device: 'gpu0' })).toBe(2);
    expect(value(samples, 'vram_scheduler_batches_ended_total', { type: 'echo', reason: 'drained' })).toBe(2);
    expect(types.get('vram_scheduler_task_run_seconds')).toBe('histogram');
    expect(types.get('vram_scheduler_tasks_finished_total')).toBe('counter');

    gate.releaseAll();
    await s.wait(held.id);
    await s.drain();
    const after = parse(await (await fetch(s.metricsUrl!)).text()).samples;
    expect(value(after, 'vram_scheduler_tasks_finished_total', { type: 'gated', status: 'succeeded' })).toBe(4);
    expect(value(after, 'vram_scheduler_queued_tasks', { type: 'gated', priority: 'normal' })).toBe(0);
    expect(value(after, 'vram_scheduler_device_reserved_vram_bytes', { device: 'gpu0' })).toBe(0);
    expect((await fetch(s.metricsUrl!.replace('/metrics', '/'))).status).toBe(404);

    const url = s.metricsUrl!;
    await s.close();
    await expect(fetch(url)).rejects.toThrow();
  });

  it("registers into the app's registry, counts evictions, and refuses a second scheduler's metrics in the same registry", async () => {
    const registry = new Registry();
    const echo = fixture('echo-handler.mjs');
    const s = await start({
      metricsRegistry: registry,
      devices: [{ id: 'gpu0', vramGb: 8 }],
      types: { a: { handler: echo, vramGb: 5, keepAliveMs: 60_000 }, b: { handler: echo, vramGb: 5 } },
    });
    expect(s.metrics()).toBe(registry);
    await s.run('a', {});
    await s.drain();
    await s.run('b', {});
    const { samples } = parse(await registry.metrics());
    expect(value(samples, 'vram_scheduler_batches_ended_total', { type: 'a', reason: 'evicted' })).toBe(1);
    expect(value(samples, 'vram_scheduler_batches_started_total', { type: 'b' })).toBe(1);
    await expect(start({ metricsRegistry: registry, types: { a: { handler: echo } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('metricsRegistry') });
  });

  it('counts from the first metrics() call without a port or registry, and refuses a port it cannot bind', async () => {
    const s = await start({ types: { echo: { handler: fixture('echo-handler.mjs'), vramGb: 1 } } });
    expect(s.metricsUrl).toBeUndefined();
    const registry = s.metrics();
    expect(s.metrics()).toBe(registry);
    await s.run('echo', {});
    expect(value(parse(await registry.metrics()).samples, 'vram_scheduler_tasks_finished_total', { type: 'echo', status: 'succeeded' })).toBe(1);

    const taken = await occupy(0);
    try {
      const port = (taken.address() as AddressInfo).port;
      await expect(start({ metricsPort: port, types: { echo: { handler: fixture('echo-handler.mjs') } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining(`127.0.0.1:${port}`) });
    } finally {
      taken.close();
      await once(taken, 'close');
    }
  });

  it('counts a preempted task as queued again, not running, while it waits for its turn', async () => {
    const gate = openGate();
    const registry = new Registry();
    const s = await start({
      metricsRegistry: registry,
      preemption: true,
      cancelGraceMs: 200,
      types: {
        bulk: { handler: fixture('checkpoint-handler.mjs'), vramGb: 16, preemptible: true },
        urgent: { handler: fixture('gated-handler.mjs'), vramGb: 16 },
      },
    });
    const preempted = new Promise((resolve) => s.once('task:preempted', resolve));
    await s.submit('bulk', { tag: 'bulk', step: 1 }, { priority: 'low' });
    await gate.waitForStarted(1);
    await s.submit('urgent', { tag: 'urgent' }, { priority: 'high' });
    await preempted;
    await gate.waitForStarted(2);
    const { samples } = parse(await registry.metrics());
    expect(value(samples, 'vram_scheduler_running_tasks', { type: 'bulk' })).toBe(0);
    expect(value(samples, 'vram_scheduler_queued_tasks', { type: 'bulk', priority: 'low' })).toBe(1);
    expect(value(samples, 'vram_scheduler_running_tasks', { type: 'urgent' })).toBe(1);
  });
});
