/**
 * What lets a person watch a scheduler: the dashboard, the Prometheus metrics (a registry, and a
 * server for it) and the Stately inspector. Each reads the scheduler only as any user can: its
 * events and snapshots (the inspector, the supervisor's actors).
 */
import type { Registry } from 'prom-client';
import { toObserver } from 'xstate';
import type { ResolvedConfig } from '../config.js';
import { startDashboard, type Dashboard, type DashboardSource } from '../dashboard/server.js';
import type { LiveInspector } from '../inspector.js';
import { registerMetrics, type MetricsSource } from '../metrics.js';
import { serveMetrics, type MetricsServer } from '../metrics-server.js';
import type { InspectionObserver } from '../observability-options.js';

export interface ObservabilityDeps {
  config: ResolvedConfig;
  /** The scheduler being watched. */
  source: DashboardSource & MetricsSource;
  inspector: LiveInspector | undefined;
  /** Closes the scheduler: a server that cannot open fails its creation. */
  close(): Promise<void>;
}

export class Observability {
  private dashboard: Dashboard | undefined;
  private metricsRegistry: Registry | undefined;
  private metricsServer: MetricsServer | undefined;

  constructor(private readonly deps: ObservabilityDeps) {}

  get dashboardUrl(): string | undefined {
    return this.dashboard?.url;
  }

  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  get inspectorUrl(): string | undefined {
    return this.deps.inspector?.url;
  }

  /** The registry is `options.metricsRegistry` when given, else one of its own; counting starts at the first call. */
  metrics(): Registry {
    return (this.metricsRegistry ??= registerMetrics(this.deps.source, this.deps.config.observability.metricsRegistry));
  }

  /** A port that cannot be bound closes the scheduler and rejects. */
  async openDashboard(port: number): Promise<void> {
    try {
      this.dashboard = await startDashboard(this.deps.source, { port, logger: this.deps.config.logger });
    } catch (error) {
      await this.deps.close();
      throw error;
    }
  }

  /** A port that cannot be bound closes the scheduler and rejects. */
  async openMetrics(port: number): Promise<void> {
    try {
      this.metricsServer = await serveMetrics(this.metrics(), port);
      this.deps.config.logger.info({ url: this.metricsServer.url }, `metrics: Prometheus text at ${this.metricsServer.url}`);
    } catch (error) {
      await this.deps.close();
      throw error;
    }
  }

  /** close()'s last steps, each run even if one before it failed. */
  closeSteps(): [string, () => Promise<unknown>][] {
    return [
      ['close the dashboard', async () => this.dashboard?.close()],
      ['close the metrics server', async () => this.metricsServer?.close()],
      ['stop the inspector', async () => this.deps.inspector?.stop()],
    ];
  }
}

/** Both observers when both are given; none at all when neither is (XState then skips inspection). */
export function inspectionOf(...observers: (InspectionObserver | undefined)[]): InspectionObserver | undefined {
  const given = observers.filter((o) => o !== undefined);
  if (given.length <= 1) return given[0];
  const all = given.map((o) => toObserver(o));
  return { next: (event) => all.forEach((o) => o.next?.(event)) };
}
