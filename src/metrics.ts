/**
 * Prometheus metrics of one scheduler, in a prom-client Registry. Fed only by what any user
 * sees: the scheduler's events (counters, histograms) and `snapshot()` (gauges, read when
 * scraped). Nothing here runs on the dispatch path.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_PREFIX } from './observability-options.js';
import { PRIORITIES } from './task.js';
import type { SchedulerEvents } from './events.js';
import type { SchedulerSnapshot } from './snapshot.js';
import type { TaskResult } from './task.js';

/** What the metrics read: a scheduler's events and snapshots. */
export interface MetricsSource {
  on<E extends keyof SchedulerEvents>(event: E, listener: SchedulerEvents[E]): unknown;
  snapshot(): SchedulerSnapshot;
}

/** From 10 ms to 10 min: LLM tasks wait and run for seconds to minutes. */
const SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const BYTES_PER_GB = 1024 ** 3;

/** Registers the scheduler's metrics into `registry` (a new one by default) and keeps them current. */
export function registerMetrics(source: MetricsSource, registry = new Registry()): Registry {
  const registers = [registry];
  const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`;
  /** Task ids running now, by type: an exact count, whatever the lane. */
  const running = new Map<string, Set<string>>();
  // A scrape collects every gauge in one turn: they share one snapshot.
  let cached: SchedulerSnapshot | undefined;
  const snapshot = (): SchedulerSnapshot => {
    if (cached === undefined) {
      cached = source.snapshot();
      queueMicrotask(() => (cached = undefined));
    }
    return cached;
  };

  new Gauge({
    name: name('queued_tasks'),
    help: 'Tasks waiting to start, per type and the priority they were submitted with.',
    labelNames: ['type', 'priority'] as const,
    registers,
    collect() {
      this.reset();
      for (const [type, byPriority] of Object.entries(snapshot().queuedByPriority)) {
        for (const priority of PRIORITIES) this.set({ type, priority }, byPriority[priority]);
      }
    },
  });
  new Gauge({
    name: name('running_tasks'),
    help: 'Tasks running now, per type.',
    labelNames: ['type'] as const,
    registers,
    collect() {
      this.reset();
      for (const type of Object.keys(snapshot().queues)) this.set({ type }, running.get(type)?.size ?? 0);
    },
  });
  const finished = new Counter({
    name: name('tasks_finished_total'),
    help: 'Tasks that ended, per type and terminal status (succeeded, failed, cancelled).',
    labelNames: ['type', 'status'] as const,
    registers,
  });
  const retried = new Counter({ name: name('task_retries_total'), help: 'Failed attempts queued again (the type has retries left), per type.', labelNames: ['type'] as const, registers });
  const waited = new Histogram({
    name: name('task_wait_seconds'),
    help: 'From submit to the start of the attempt that ended the task, per type, for tasks that started.',
    labelNames: ['type'] as const,
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const ran = new Histogram({
    name: name('task_run_seconds'),
    help: 'Run time of the attempt that ended the task, per type and terminal status.',
    labelNames: ['type', 'status'] as const,
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const deviceGauge = (metric: string, help: string, bytesOf: (device: SchedulerSnapshot['devices'][number]) => number) =>
    new Gauge({
      name: name(metric),
      help,
      labelNames: ['device'] as const,
      registers,
      collect() {
        for (const device of snapshot().devices) this.set({ device: device.id }, bytesOf(device));
      },
    });
  deviceGauge('device_vram_bytes', 'VRAM capacity per device (+Inf for the unlimited device used when no GPU is found).', (d) => d.vramGb * BYTES_PER_GB);
  deviceGauge('device_reserved_vram_bytes', 'VRAM reserved by batches and tasks per device.', (d) => d.reservedGb * BYTES_PER_GB);
  deviceGauge('device_external_vram_bytes', 'VRAM the GPU monitor saw used outside the scheduler per device (kept out of reserves).', (d) => d.externalGb * BYTES_PER_GB);
  new Gauge({
    name: name('batches'),
    help: "Live batches per type, device and state ('running', 'warm': model loaded and idle, 'finishing', 'unloading').",
    labelNames: ['type', 'device', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const batch of snapshot().batches) this.inc({ type: batch.type, device: batch.device, state: batch.state });
    },
  });
  const batchesStarted = new Counter({
    name: name('batches_started_total'),
    help: "Batches started, per type and device: each loads its type's model once (model loads).",
    labelNames: ['type', 'device'] as const,
    registers,
  });
  const batchesEnded = new Counter({
    name: name('batches_ended_total'),
    help: "Batches ended, per type and reason; reason 'evicted' counts warm models evicted for another type.",
    labelNames: ['type', 'reason'] as const,
    registers,
  });

  const ended = (result: TaskResult) => {
    running.get(result.type)?.delete(result.id);
    finished.inc({ type: result.type, status: result.status });
    if (result.startedAt === undefined) return;
    waited.observe({ type: result.type }, (result.startedAt - result.queuedAt) / 1000);
    ran.observe({ type: result.type, status: result.status }, (result.finishedAt - result.startedAt) / 1000);
  };
  source.on('task:started', ({ id, type }) => {
    let ids = running.get(type);
    if (!ids) running.set(type, (ids = new Set()));
    ids.add(id);
  });
  source.on('task:succeeded', ended);
  source.on('task:failed', ended);
  source.on('task:cancelled', ended);
  source.on('task:retrying', ({ id, type }) => {
    running.get(type)?.delete(id);
    retried.inc({ type });
  });
  source.on('task:preempted', ({ id, type }) => running.get(type)?.delete(id)); // back in line until it starts again
  source.on('batch:started', ({ type, device }) => batchesStarted.inc({ type, device }));
  source.on('batch:ended', ({ type, reason }) => batchesEnded.inc({ type, reason }));
  return registry;
}
