/**
 * The options that let people watch a scheduler: an XState inspector, the ready-made Stately
 * inspector, and Prometheus metrics. All off by default; off, they cost nothing.
 */
import type { Registry } from 'prom-client';
import type { InspectionEvent, Observer } from 'xstate';
import { expected } from './errors.js';

/** What `createActor(machine, { inspect })` takes. */
export type InspectionObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export interface ObservabilityOptions {
  /**
   * An XState inspection observer, passed to the supervisor actor: it sees the supervisor, every
   * batch actor it spawns and every task actor of a batch, with their events and snapshots.
   * @default undefined (no observer: XState skips inspection entirely)
   * @example createBrowserInspector().inspect // from '@statelyai/inspect'
   */
  inspect?: InspectionObserver;
  /**
   * Starts the Stately inspector (`@statelyai/inspect`'s WebSocket inspector and its local
   * server) on 127.0.0.1 and logs its URL; open it in a browser to watch the machines live (the
   * page embeds the Stately UI from stately.ai, so the browser needs internet). `true` listens on
   * port 8080, `{ port }` on another. The environment variable `VRAM_SCHEDULER_INSPECT=1` (or
   * `=<port>`) turns it on without code. Per-task actors are left out of this stream.
   * @default false
   */
  inspector?: boolean | { port?: number };
  /**
   * Serves the metrics of `scheduler.metrics()` as Prometheus text at
   * `http://127.0.0.1:<port>/metrics`. 0 picks a free port (see `scheduler.urls.metrics`).
   * @default undefined (no server)
   */
  metricsPort?: number;
  /**
   * A prom-client `Registry` to register the scheduler's metrics into (e.g. the app's own
   * `register`), instead of a registry of their own. Metric names start with `vram_scheduler_`.
   * @default undefined (a new Registry, created on the first `scheduler.metrics()` call)
   */
  metricsRegistry?: Registry;
}

export interface Observability {
  inspect?: InspectionObserver;
  /** Port of the Stately inspector's server, when it is on. */
  inspectorPort?: number;
  metricsPort?: number;
  metricsRegistry?: Registry;
}

export const OBSERVABILITY_KEYS = ['inspect', 'inspector', 'metricsPort', 'metricsRegistry'] as const;
export const DEFAULT_INSPECTOR_PORT = 8080;
/** Every metric name starts with this. */
export const METRIC_PREFIX = 'vram_scheduler_';

export function readObservability(options: Record<string, unknown>, env: Record<string, string | undefined>): Observability {
  const { inspect, inspector, metricsPort, metricsRegistry } = options;
  const resolved: Observability = {};
  if (inspect !== undefined) {
    if (typeof inspect !== 'function' && !(isObject(inspect) && typeof inspect.next === 'function')) {
      throw expected('options.inspect', 'an XState inspection observer (a function, or an object with next())', inspect);
    }
    resolved.inspect = inspect as InspectionObserver;
  }
  const port = inspectorPort(inspector, env.VRAM_SCHEDULER_INSPECT);
  if (port !== undefined) resolved.inspectorPort = port;
  if (metricsPort !== undefined) {
    if (!isPort(metricsPort, 0)) throw expected('options.metricsPort', 'an integer port from 0 to 65535 (0: any free port)', metricsPort);
    resolved.metricsPort = metricsPort;
  }
  if (metricsRegistry !== undefined) {
    if (!isObject(metricsRegistry) || typeof metricsRegistry.registerMetric !== 'function' || typeof metricsRegistry.metrics !== 'function') {
      throw expected('options.metricsRegistry', 'a prom-client Registry', metricsRegistry);
    }
    // prom-client refuses a metric name twice in one registry: say so at the edge, before anything starts.
    if (typeof metricsRegistry.getSingleMetric === 'function' && metricsRegistry.getSingleMetric(`${METRIC_PREFIX}tasks_finished_total`) !== undefined) {
      throw expected('options.metricsRegistry', "a registry without vram-scheduler metrics (another scheduler registered into it: give each scheduler its own registry)", metricsRegistry);
    }
    resolved.metricsRegistry = metricsRegistry as unknown as Registry;
  }
  return resolved;
}

/** The option wins over the environment variable. */
function inspectorPort(option: unknown, variable: string | undefined): number | undefined {
  if (option === false) return undefined;
  if (option === true) return DEFAULT_INSPECTOR_PORT;
  if (isObject(option)) {
    const { port = DEFAULT_INSPECTOR_PORT, ...rest } = option;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw expected(`options.inspector.${unknown}`, 'absent (valid: port)', rest[unknown]);
    if (!isPort(port, 1)) throw expected('options.inspector.port', 'an integer port from 1 to 65535', port);
    return port;
  }
  if (option !== undefined) throw expected('options.inspector', 'a boolean or { port }', option);
  if (variable === undefined || variable === '' || variable === '0') return undefined;
  if (variable === '1') return DEFAULT_INSPECTOR_PORT;
  const port = Number(variable);
  if (!/^\d+$/.test(variable) || !isPort(port, 1)) throw expected('env VRAM_SCHEDULER_INSPECT', "'1' (port 8080), a port from 2 to 65535, or '0' (off)", variable);
  return port;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= 65535;
