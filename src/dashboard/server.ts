/**
 * The dashboard's HTTP server (node:http, 127.0.0.1 only): the page, its assets, a JSON view
 * and a server-sent-event stream that pushes a fresh view after scheduler events, at most every
 * PUSH_INTERVAL_MS, and every REFRESH_MS while a page is open (VRAM grown inside a task and a
 * batch going warm emit no event).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { expected, InvalidOptionsError } from '../errors.js';
import type { SchedulerEventName, SchedulerEvents } from '../events.js';
import type { SchedulerSnapshot } from '../snapshot.js';
import type { TaskResult } from '../task.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { RecentFailures } from './recent-failures.js';
import { Throttle } from './throttle.js';
import { buildView, type DashboardView } from './view.js';

export const PUSH_INTERVAL_MS = 250;
export const REFRESH_MS = 2000;

/** What the dashboard reads: a scheduler, or anything shaped like one (tests). */
export interface DashboardSource {
  snapshot(): SchedulerSnapshot;
  on<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): unknown;
  off<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): unknown;
}

// Every page-visible change comes with one of these.
const CHANGES: SchedulerEventName[] = ['task:queued', 'task:started', 'task:retrying', 'batch:started', 'batch:ended'];
const ENDINGS = ['task:succeeded', 'task:failed', 'task:cancelled'] as const;

/** Only loopback names: a page on another site that rebinds its DNS name to 127.0.0.1 is refused. */
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i;

const SECURITY_HEADERS = {
  // Everything comes from this server: no CDN, no inline code, nothing else reachable.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/dashboard.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS },
  '/dashboard.js': { type: 'text/javascript; charset=utf-8', body: PAGE_JS },
};

export interface DashboardOptions {
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
}

/** Starts the server; rejects with `INVALID_OPTIONS` when the port cannot be bound. */
export async function startDashboard(source: DashboardSource, { port, logger }: DashboardOptions): Promise<Dashboard> {
  const dashboard = new Dashboard(source);
  await dashboard.listen(port);
  logger.info({ url: dashboard.url }, `dashboard on ${dashboard.url}`);
  return dashboard;
}

export class Dashboard {
  private readonly server: Server;
  private readonly clients = new Set<ServerResponse>();
  private readonly failures = new RecentFailures();
  private readonly ended = { succeeded: 0, failed: 0, cancelled: 0 };
  private readonly push = new Throttle(PUSH_INTERVAL_MS, () => this.pushView());
  private readonly changed = () => this.push.request();
  private readonly onEnded = {
    'task:succeeded': () => this.countEnded('succeeded'),
    'task:failed': (result: TaskResult) => {
      this.failures.add(result);
      this.countEnded('failed');
    },
    'task:cancelled': () => this.countEnded('cancelled'),
  };
  private refresh: NodeJS.Timeout | undefined;
  private address: AddressInfo | undefined;

  constructor(private readonly source: DashboardSource) {
    this.server = createServer((req, res) => this.handle(req, res));
    for (const event of CHANGES) source.on(event, this.changed);
    for (const event of ENDINGS) source.on(event, this.onEnded[event]);
  }

  /** `http://127.0.0.1:<port>/` */
  get url(): string {
    if (!this.address) throw new Error('the dashboard is not listening');
    return `http://127.0.0.1:${this.address.port}/`;
  }

  /** @internal */
  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => {
        this.detach();
        const what = error.code === 'EADDRINUSE' ? 'a port free on 127.0.0.1 (this one is in use)' : `a port this process may bind on 127.0.0.1 (${error.code ?? error.message})`;
        reject(new InvalidOptionsError(expected('options.dashboardPort', what, port).message, { cause: error }));
      };
      this.server.once('error', failed);
      this.server.listen({ port, host: '127.0.0.1' }, () => {
        this.server.off('error', failed);
        this.address = this.server.address() as AddressInfo;
        resolve();
      });
    });
  }

  /** What the page shows now. */
  view(): DashboardView {
    return buildView(this.source.snapshot(), this.failures.list(), this.ended, Date.now());
  }

  /** Stops listening, ends open event streams. Idempotent. */
  async close(): Promise<void> {
    this.detach();
    for (const res of this.clients) res.end();
    this.clients.clear();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private detach(): void {
    for (const event of CHANGES) this.source.off(event, this.changed);
    for (const event of ENDINGS) this.source.off(event, this.onEnded[event]);
    this.push.cancel();
    clearInterval(this.refresh);
  }

  private countEnded(status: 'succeeded' | 'failed' | 'cancelled'): void {
    this.ended[status]++;
    this.push.request();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (!LOOPBACK_HOST.test(req.headers.host ?? '')) return plain(res, 403, 'Forbidden: open the dashboard through 127.0.0.1 or localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed', { allow: 'GET, HEAD' });
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const asset = ASSETS[path];
    if (asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/view.json') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
      res.end(JSON.stringify(this.view()));
      return;
    }
    if (path === '/events') return this.stream(req, res);
    plain(res, 404, 'Not found');
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    res.write(`retry: 1000\n\ndata: ${JSON.stringify(this.view())}\n\n`);
    this.clients.add(res);
    this.refresh ??= setInterval(() => this.push.request(), REFRESH_MS).unref();
    req.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) {
        clearInterval(this.refresh);
        this.refresh = undefined;
      }
    });
  }

  private pushView(): void {
    if (this.clients.size === 0) return;
    const message = `data: ${JSON.stringify(this.view())}\n\n`;
    // A client that has not read the last view gets the next one instead: no queue builds up.
    for (const res of this.clients) if (!res.writableNeedDrain) res.write(message);
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
