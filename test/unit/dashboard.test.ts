/** The dashboard's parts without a browser: throttling, the failure ring, the option, the HTTP edge, the event stream. */
import { request } from 'node:http';
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RecentFailures } from '../../src/dashboard/recent-failures.js';
import { Throttle } from '../../src/dashboard/throttle.js';
import type { DashboardView } from '../../src/dashboard/view.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);
afterEach(() => {
  vi.useRealTimers();
});

const echo = { handler: fixture('echo-handler.mjs'), vramGb: 4 };
const throws = { handler: fixture('handler-throws.mjs'), vramGb: 2 };

/** A GET with a chosen Host header (fetch does not let a caller set one). */
async function get(url: string, path: string, host?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { port } = new URL(url);
  const req = request({ host: '127.0.0.1', port, path, headers: host ? { host } : {} });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode!, body, headers: res.headers };
}

describe('Throttle', () => {
  it('runs once per interval however often it is requested, never synchronously', () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    const throttle = new Throttle(250, () => runs.push(Date.now()));
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) throttle.request();
    expect(runs).toEqual([]); // not inside the emitting call
    vi.advanceTimersByTime(0);
    expect(runs).toEqual([t0]);
    for (let i = 0; i < 100; i++) throttle.request();
    vi.advanceTimersByTime(249);
    expect(runs).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(runs).toEqual([t0, t0 + 250]);
    vi.advanceTimersByTime(1000);
    expect(runs).toHaveLength(2); // nothing requested: nothing runs
    throttle.request();
    throttle.cancel();
    vi.advanceTimersByTime(1000);
    expect(runs).toHaveLength(2);
  });
});

describe('RecentFailures', () => {
  it('keeps the newest `capacity` failures, newest first, and cuts long messages', () => {
    const ring = new RecentFailures(3);
    for (let i = 1; i <= 5; i++) {
      ring.add({ id: `t${i}`, type: 'x', status: 'failed', error: { code: 'HANDLER_ERROR', message: 'm'.repeat(i === 5 ? 2000 : 1) }, queuedAt: 0, finishedAt: i, device: 'gpu0' });
    }
    const list = ring.list();
    expect(list.map((f) => f.id)).toEqual(['t5', 't4', 't3']);
    expect(list[1]).toEqual({ id: 't4', type: 'x', code: 'HANDLER_ERROR', message: 'm', finishedAt: 4, device: 'gpu0' });
    expect(list[0]!.message.length).toBe(500);
  });
});

describe('dashboardPort', () => {
  it('refuses a port that is not an integer from 0 to 65535 with INVALID_OPTIONS naming the option', async () => {
    for (const bad of [-1, 65536, 1.5, '8080']) {
      await expect(start({ types: { echo }, dashboardPort: bad as number })).rejects.toMatchObject({
        code: 'INVALID_OPTIONS',
        message: expect.stringContaining('options.dashboardPort') as unknown,
      });
    }
  });

  it('port 0 binds a free port on 127.0.0.1; a port in use rejects createScheduler with INVALID_OPTIONS', async () => {
    const first = await start({ types: { echo }, dashboardPort: 0 });
    const url = new URL(first.dashboardUrl!);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBeGreaterThan(0);
    await expect(start({ types: { echo }, dashboardPort: Number(url.port) })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('in use') as unknown,
    });
    const without = await start({ types: { echo } });
    expect(without.dashboardUrl).toBeUndefined();
  });

  it('serves the page and its assets from the package; refuses other hosts, methods and paths; close() stops it', async () => {
    const s = await start({ types: { echo }, dashboardPort: 0 });
    const url = s.dashboardUrl!;
    const page = await get(url, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="dashboard.js"');
    expect(page.body).not.toMatch(/https?:\/\//); // nothing from elsewhere
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect((await get(url, '/dashboard.js')).headers['content-type']).toContain('text/javascript');
    expect((await get(url, '/dashboard.css')).headers['content-type']).toContain('text/css');
    expect((await get(url, '/nope')).status).toBe(404);
    expect((await get(url, '/', `localhost:${new URL(url).port}`)).status).toBe(200);
    // DNS rebinding: a page on another site that resolves its own name to 127.0.0.1.
    expect((await get(url, '/view.json', 'attacker.example:80')).status).toBe(403);
    const post = await fetch(url, { method: 'POST' });
    expect(post.status).toBe(405);
    await s.close();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('streams a view at once, then a fresh one after events; records failures and ended counts', async () => {
    const s = await start({ types: { echo, throws }, dashboardPort: 0 });
    const res = await fetch(`${s.dashboardUrl!}events`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const views = readViews(res.body!);
    const first = (await views.next()).value as DashboardView;
    expect(first).toMatchObject({ state: 'idle', devices: [{ id: 'gpu0', capacityGb: 24, reservedGb: 0, batches: [] }], failures: [] });
    expect(first.queues.map((q) => q.type)).toEqual(['echo', 'throws']);
    await s.run('echo', {});
    const failed = await s.run('throws', { fail: 'on purpose' });
    let view: DashboardView | void;
    do view = (await views.next()).value;
    while (view && view.ended.failed === 0);
    expect(view).toMatchObject({ ended: { succeeded: 1, failed: 1, cancelled: 0 } });
    expect(view!.failures).toEqual([{ id: failed.id, type: 'throws', code: 'HANDLER_ERROR', message: expect.stringContaining('boom on purpose') as unknown, finishedAt: failed.finishedAt, device: 'gpu0' }]);
    await s.close(); // ends the stream
    while (!(await views.next()).done);
  });
});

/** The `data:` views of an SSE body, in order. */
async function* readViews(body: ReadableStream<Uint8Array>): AsyncGenerator<DashboardView> {
  let buffer = '';
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = message.split('\n').find((line) => line.startsWith('data: '));
      if (data) yield JSON.parse(data.slice(6)) as DashboardView;
    }
  }
}
