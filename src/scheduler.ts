/**
 * The facade a user holds. It wires the parts and keeps the one-way flow readable:
 * submit → store (durable) → queue → supervisor picks a type → ledger reserves → batch actor
 * → pool → worker → outcome → store → waiters and events.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createActor, toObserver, waitFor, type Actor, type AnyActorRef } from 'xstate';
import { gpuMonitor } from './actors/gpu-monitor.js';
import { VramObservations } from './gpu/observed.js';
import { systemUsage } from './gpu/usage.js';
import { executeTask, type RunTaskInput, type TaskRunDeps } from './actors/run-task.js';
import { TaskControls } from './actors/task-controls.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { FreeLane } from './dispatch/free-lane.js';
import { ThreadSlots } from './dispatch/thread-slots.js';
import { Backoffs } from './dispatch/backoffs.js';
import { TaskQueues } from './dispatch/queues.js';
import { Admission } from './admission.js';
import {
  ErrorCode,
  QueueFullError,
  SchedulerClosedError,
  SchedulerError,
  StoreError,
  TaskNotFoundError,
  UnknownTypeError,
} from './errors.js';
import type { SchedulerEventName, SchedulerEvents } from './events.js';
import { detectDevices, UNLIMITED_MIB, type Device } from './gpu/detect.js';
import { startDashboard, type Dashboard } from './dashboard/server.js';
import { startInspector, type LiveInspector } from './inspector.js';
import { registerMetrics } from './metrics.js';
import { serveMetrics, type MetricsServer } from './metrics-server.js';
import type { Registry } from 'prom-client';
import { createBatchMachine } from './machines/batch.js';
import { createSupervisor, othersWaitFor, type SupervisorMachine } from './machines/supervisor.js';
import type { SchedulerOptions } from './options.js';
import type { AnyTasks, TaskInput, TaskMap, TaskName, TaskOutput, TypedTaskId } from './tasks.js';
import type { InspectionObserver } from './observability-options.js';
import { overdue, refuseUnlessStartable } from './policy.js';
import { positionIn, RunTimes, type QueuePosition } from './position.js';
import { recoverQueued } from './recovery.js';
import { takeSnapshot, type SchedulerSnapshot } from './snapshot.js';
import { Retention } from './store/retention.js';
import { TaskStore, type TaskState } from './store/task-store.js';
import { checkSubmit, type SubmitOptions, type SubmitReceipt } from './submit.js';
import { toResult, type QueueEntry, type TaskError, type TaskRecord, type TaskResult } from './task.js';
import { Pools } from './threads/pools.js';
import { VramLedger } from './threads/vram-ledger.js';
import { ResultWaiters } from './waiters.js';
import { hasFreeRam, mibToGb } from './units.js';

/**
 * Builds a scheduler: validates options, detects devices, opens the store and recovers queued work.
 * Declare the task map (`createScheduler<Tasks>(…)`, see `Task`) to have payloads and results typed.
 */
export async function createScheduler<T extends TaskMap<T> = AnyTasks>(options: SchedulerOptions<NoInfer<T>>): Promise<Scheduler<T>> {
  const config = await resolveConfig(options);
  const detected = await detectDevices(config.devices, config.logger);
  // The permissive policy checks no VRAM: every device counts as unlimited.
  const devices = config.scheduling.policy === 'permissive' ? detected.map((d) => ({ ...d, capacityMiB: UNLIMITED_MIB, unlimited: true })) : detected;
  const store = TaskStore.open({ dir: config.dataDir });
  let scheduler: Scheduler<T>;
  try {
    const resumed = await recoverQueued(store, config, largestCapacity(devices));
    const { inspectorPort } = config.observability;
    const inspector = inspectorPort === undefined ? undefined : await startInspector(inspectorPort, config.logger);
    scheduler = new Scheduler<T>(config, devices, store, resumed, inspector);
  } catch (error) {
    await store.close();
    throw error;
  }
  if (config.observability.metricsPort !== undefined) await scheduler.openMetrics(config.observability.metricsPort);
  if (config.dashboardPort !== undefined) await scheduler.openDashboard(config.dashboardPort);
  return scheduler;
}

const largestCapacity = (devices: readonly Device[]) => Math.max(...devices.map((d) => d.capacityMiB));

// Typed `on`/`once`/`off`/`emit`, after BullMQ's listener interfaces.
export interface Scheduler<T extends TaskMap<T> = AnyTasks> {
  on<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  once<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  off<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  emit<E extends SchedulerEventName>(event: E, ...args: Parameters<SchedulerEvents[E]>): boolean;
}

export class Scheduler<T extends TaskMap<T> = AnyTasks> extends EventEmitter {
  private readonly queues: TaskQueues;
  /** GPU types waiting for VRAM after the last dispatch (type → MiB needed). */
  private readonly waitingForVram = new Map<string, number>();
  private readonly ledger: VramLedger;
  private readonly pools: Pools;
  private readonly freeLane: FreeLane;
  private readonly runTask: (input: RunTaskInput) => Promise<void>;
  private readonly supervisor: Actor<SupervisorMachine>;
  private readonly admission = new Admission();
  private readonly controls: TaskControls;
  private readonly backoffs = new Backoffs();
  private readonly runTimes = new RunTimes();
  private readonly retention: Retention;
  private readonly observations = new VramObservations();
  /** Last ctx.progress() report per running task. */
  private readonly progress = new Map<string, { value: number; info?: unknown }>();
  private readonly monitor: AnyActorRef | undefined;
  private expiry: NodeJS.Timeout | undefined;
  /** Detaches a submit's AbortSignal listener once its task has ended. */
  private readonly signalCleanups = new Map<string, () => void>();
  private readonly waiters = new ResultWaiters();
  private drainWaiters: (() => void)[] = [];
  private readonly largestDeviceMiB: number;
  /** Task outcomes written but not yet committed. */
  private committingOutcomes = 0;
  private wakeScheduled = false;
  /** Whether the pending wake has news for the supervisor (GPU work), not only for the free lane. */
  private wakeSupervisor = false;
  private closing: Promise<void> | undefined;
  private dashboard: Dashboard | undefined;
  private metricsRegistry: Registry | undefined;
  private metricsServer: MetricsServer | undefined;

  /** @internal Use `createScheduler()`. */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly devices: readonly Device[],
    private readonly store: TaskStore,
    resumed: readonly QueueEntry[],
    private readonly inspector?: LiveInspector,
  ) {
    super();
    this.queues = new TaskQueues(config.scheduling);
    this.controls = new TaskControls(`vram-scheduler:abort:${randomUUID()}`, config.scheduling.cancelGraceMs);
    this.ledger = VramLedger.create(devices.map((d) => ({ capacityMiB: d.capacityMiB })));
    this.largestDeviceMiB = largestCapacity(devices);
    this.retention = new Retention(store, config.retain, config.logger);
    this.pools = new Pools({
      types: config.types,
      ledger: this.ledger.buffer,
      freeLaneThreads: config.freeLaneThreads,
      logLevel: config.logger.level,
      serviceName: config.serviceName,
      threadGone: (threadId) => this.ledger.recoverThread(threadId),
      threadFailed: (error) => this.config.logger.error({ err: error }, 'a worker thread died between tasks; it is replaced'),
      abortChannel: this.controls.channelName,
      appCalls: {
        progress: (taskId, value, info) => this.taskProgress(taskId, value, info),
        submit: (type, payload, options) =>
          (this as Scheduler).submit(type, payload, options).then(
            (receipt) => ({ ok: true as const, receipt }),
            (error: unknown) => ({ ok: false as const, error: { code: (error as { code?: string }).code ?? ErrorCode.HANDLER_ERROR, message: error instanceof Error ? error.message : String(error) } }),
          ),
      },
    });
    // One thread per GPU type, running `concurrency` tasks at once; the free lane shares its threads.
    const freeSlots = new ThreadSlots(config.freeLaneThreads);
    const gpuSlots = new Map([...config.types.values()].filter((t) => t.gpu).map((t) => [t.name, new ThreadSlots(t.concurrency)]));
    const slots = (type: string) => gpuSlots.get(type) ?? freeSlots;
    const run: TaskRunDeps = {
      store,
      slots,
      pools: this.pools,
      ledger: this.ledger,
      controls: this.controls,
      timeoutMs: (entry) => entry.timeoutMs ?? config.types.get(entry.type)!.timeoutMs,
      started: (record) => this.taskStarted(record),
      finished: (record) => this.taskFinished(record),
      recorded: (committing) => this.track(committing),
      retry: (record, error) => this.retryLater(record, error),
      preempted: (record, checkpoint) => this.requeuePreempted(record, checkpoint),
      broken: (entry, error) => this.taskBroken(entry, error),
    };
    this.runTask = (input) => executeTask(run, input);
    const freeTypes = [...config.types.values()].filter((t) => !t.gpu);
    this.freeLane = new FreeLane({
      queues: this.queues,
      startable: () => freeTypes.filter((t) => hasFreeRam(t.ramGb)).map((t) => t.name),
      capacity: () => freeSlots.limit,
      run: (entry) => executeTask(run, { entry, device: undefined }),
      settled: () => this.checkIdle(),
    });
    const batch = createBatchMachine({
      queues: this.queues,
      ledger: this.ledger,
      runTask: (input) => executeTask(run, input),
      unload: (type) => this.pools.unload(type),
      inFlightLimit: (type) => slots(type).limit,
      wentWarm: () => {
        queueMicrotask(() => this.checkIdle()); // once the batch's snapshot says warm
        this.wake(); // a type waiting for VRAM may now evict it
      },
      othersWaitFor: (type, device) => othersWaitFor(this.waitingForVram, type, this.ledger.capacity(device)),
      preempt: (type) => this.controls.stopType(type, 'preempted'),
    });
    this.supervisor = createActor(
      createSupervisor({
        queues: this.queues,
        ledger: this.ledger,
        devices,
        types: config.types,
        batch,
        scheduling: config.scheduling,
        waitingForVram: this.waitingForVram,
        batchStarted: (type, device, leaseMiB) => this.notify('batch:started', { type, device: device.id, vramGb: mibToGb(leaseMiB) }),
        batchEnded: (batch) => {
          this.notify('batch:ended', batch);
          this.checkIdle();
        },
      }),
      { inspect: inspectionOf(config.observability.inspect, inspector?.inspect) },
    );
    // Given a registry, count from the start; otherwise from the first metrics() call.
    if (config.observability.metricsRegistry || config.observability.metricsPort !== undefined) this.metrics();
    this.supervisor.subscribe({ error: (error) => this.config.logger.error({ err: error }, 'supervisor failed') });
    this.supervisor.start();
    for (const entry of resumed) {
      this.queues.push(entry);
      this.admission.restore(entry);
    }
    this.wake();
    void this.watchReleases();
    this.retention.poke();
    this.monitor = this.startMonitor();
    const { policy, maxWaitMs } = config.scheduling;
    if (policy === 'queue' && maxWaitMs > 0) {
      this.expiry = setInterval(() => this.expireWaiting(), Math.min(1000, Math.max(10, maxWaitMs / 2)));
      this.expiry.unref();
    }
  }

  /** Queues a task; resolves once it is durably stored. Bad input rejects with a typed error and writes nothing. */
  submit<K extends TaskName<T>>(type: K, payload: TaskInput<T, K>, options?: SubmitOptions): Promise<SubmitReceipt<K>>;
  async submit(type: string, payload: unknown, options?: SubmitOptions): Promise<SubmitReceipt> {
    if (this.closing) throw new SchedulerClosedError('submit');
    const { priority, vramGb, vramMiB, key, timeoutMs, signal } = checkSubmit(this.config.types, this.largestDeviceMiB, type, payload, options);
    if (this.config.scheduling.policy === 'safety') {
      const taskType = this.config.types.get(type)!;
      const freeMiB = this.devices.map((d) => this.ledger.free(d.index));
      refuseUnlessStartable(taskType, Math.max(taskType.vramMiB, vramMiB), this.snapshot().batches, freeMiB);
    }
    const holding = this.admission.holderOf(type, key);
    if (holding) {
      const holder = await holding;
      if (holder !== undefined) return { id: holder, isNew: false };
      if (this.closing) throw new SchedulerClosedError('submit');
    }

    const id = randomUUID();
    const queuedAt = Date.now();
    const entry: QueueEntry = { id, type, seq: this.store.nextSeq(), priority, queuedAt, vramMiB };
    const record: TaskRecord = { id, type, seq: entry.seq, priority, payload, status: 'queued', queuedAt };
    if (vramGb !== undefined) record.vramGb = vramGb;
    if (key !== undefined) record.key = entry.key = key;
    if (timeoutMs !== undefined) record.timeoutMs = entry.timeoutMs = timeoutMs;
    // A free-lane task with a free thread and nothing ahead of it (queued or being written) is
    // stored as running at once: one commit before it starts instead of two.
    const startNow = this.admission.writing === 0 && !this.config.types.get(type)!.gpu && this.freeLane.takeForSubmit(type, this.config.freeLaneThreads);
    let claimed: TaskRecord | undefined;
    try {
      await this.admission.admit({ id, type, key }, this.queues.depth(type), this.config.maxQueueDepth, async () => {
        if (startNow) claimed = await this.store.insertRunning(record, entry, { startedAt: Date.now() });
        else {
          await this.store.insert(record, entry);
          this.queues.push(entry); // before the submit stops counting as "being written"
        }
      });
    } catch (error) {
      if (startNow) this.freeLane.giveBack();
      if (error instanceof QueueFullError) this.config.logger.warn({ type, maxQueueDepth: this.config.maxQueueDepth }, 'queue full: submit refused');
      throw error instanceof SchedulerError ? error : new StoreError(`Could not store the task: ${String(error)}`, { cause: error });
    } finally {
      this.checkIdle(); // drain() and close() wait for submits being written
    }
    this.notify('task:queued', { id, type, priority, seq: entry.seq });
    if (claimed) this.freeLane.adopt(this.runTask({ entry, device: undefined, claimed }));
    else this.wake(this.config.types.get(type)!.gpu);
    if (signal) this.cancelOnAbort(id, signal);
    return { id, isNew: true };
  }

  /**
   * Cancels a queued task at once, or asks a running one to stop (its handler sees `ctx.signal`
   * abort; past `cancelGraceMs` its thread is terminated). Resolves true if the task was queued
   * or running, false if it had already ended.
   */
  async cancel(id: string): Promise<boolean> {
    this.read(id, 'cancel a task');
    if (this.controls.stop(id, 'cancelled')) return true;
    const current = this.store.getState(id); // includes a start being written
    if (current?.status !== 'queued') return false;
    await this.cancelQueued(current);
    return true;
  }

  /** Cancels every queued task (of one type); running tasks go on. Resolves the number cancelled. */
  async clear(type?: string): Promise<number> {
    if (this.closing) throw new SchedulerClosedError('clear queues');
    if (type !== undefined && !this.config.types.has(type)) throw new UnknownTypeError(type, [...this.config.types.keys()]);
    const entries = (type === undefined ? [...this.config.types.keys()] : [type]).flatMap((name) => [...this.queues.entries(name)]);
    await Promise.all(entries.map((entry) => this.cancelQueued(entry)));
    return entries.length;
  }

  /**
   * A queued task's place in its type's line (in priority order) and an estimate of when it
   * starts, from its type's recent run times; undefined once it has started or ended.
   */
  async position(id: string): Promise<QueuePosition | undefined> {
    const record = this.read(id, 'read a position');
    const type = this.config.types.get(record.type);
    if (record.status !== 'queued' || !type) return undefined;
    return positionIn(this.queues, id, record.type, this.runTimes.mean(record.type), type.gpu ? type.concurrency : this.config.freeLaneThreads);
  }

  /** The task that would start next (of one type, or of any), without taking it. */
  async peek(type?: string): Promise<TaskRecord | undefined> {
    if (this.closing) throw new SchedulerClosedError('peek');
    if (type !== undefined && !this.config.types.has(type)) throw new UnknownTypeError(type, [...this.config.types.keys()]);
    const best = this.queues.next(type === undefined ? this.config.types.keys() : [type]);
    return best && this.store.getCommitted(best.entry.id);
  }

  /** The task's result once it has ended; resolves at once if it already has. */
  wait<K extends TaskName<T>>(id: TypedTaskId<K>): Promise<TaskResult<TaskOutput<T, K>>>;
  wait(id: string): Promise<TaskResult<TaskOutput<T, TaskName<T>>>>;
  async wait(id: string): Promise<TaskResult> {
    const record = this.read(id, 'wait');
    const result = toResult(record);
    return result ?? this.waiters.add(id);
  }

  /** The terminal result, or `undefined` while the task is queued or running. */
  result<K extends TaskName<T>>(id: TypedTaskId<K>): Promise<TaskResult<TaskOutput<T, K>> | undefined>;
  result(id: string): Promise<TaskResult<TaskOutput<T, TaskName<T>>> | undefined>;
  async result(id: string): Promise<TaskResult | undefined> {
    return toResult(this.read(id, 'read a result'));
  }

  /** The task's stored record; while it runs, with its handler's last `ctx.progress()` report. */
  get<K extends TaskName<T>>(id: TypedTaskId<K>): Promise<TaskRecord<TaskInput<T, K>, TaskOutput<T, K>>>;
  get(id: string): Promise<TaskRecord<TaskInput<T, TaskName<T>>, TaskOutput<T, TaskName<T>>>>;
  async get(id: string): Promise<TaskRecord> {
    this.read(id, 'read a task');
    const record = this.store.getCommitted(id)!;
    const progress = record.status === 'running' ? this.progress.get(id) : undefined;
    return progress === undefined ? record : { ...record, progress };
  }

  /** Submit, then wait for the result. */
  run<K extends TaskName<T>>(type: K, payload: TaskInput<T, K>, options?: SubmitOptions): Promise<TaskResult<TaskOutput<T, K>>>;
  async run(type: string, payload: unknown, options?: SubmitOptions): Promise<TaskResult> {
    const { id } = await (this as Scheduler).submit(type, payload, options);
    return this.wait(id);
  }

  /** Resolves when nothing is queued or running and every batch has returned its VRAM. */
  drain(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkIdle();
    });
  }

  snapshot(): SchedulerSnapshot {
    return takeSnapshot({
      supervisor: this.supervisor.getSnapshot(),
      devices: this.devices,
      ledger: this.ledger,
      queues: this.queues,
      typeNames: this.config.types.keys(),
      observations: this.observations,
    });
  }

  /** The dashboard's address, `http://127.0.0.1:<port>/`, when `dashboardPort` is set. */
  get dashboardUrl(): string | undefined {
    return this.dashboard?.url;
  }

  /** @internal `createScheduler()` calls it for `dashboardPort`; a port that cannot be bound closes the scheduler and rejects. */
  async openDashboard(port: number): Promise<void> {
    try {
      this.dashboard = await startDashboard(this, { port, logger: this.config.logger });
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * The scheduler's Prometheus metrics (prom-client): queued tasks per type and priority, running
   * tasks, tasks by terminal status, wait and run time histograms, VRAM capacity and reservations
   * per device, live batches, batches started (model loads) and ended by reason (evictions).
   * The registry is `options.metricsRegistry` when given, else one of its own.
   */
  metrics(): Registry {
    return (this.metricsRegistry ??= registerMetrics(this, this.config.observability.metricsRegistry));
  }

  /** `http://127.0.0.1:<port>/metrics` when `metricsPort` is set. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** The Stately inspector's page when `inspector` (or `VRAM_SCHEDULER_INSPECT`) is on. */
  get inspectorUrl(): string | undefined {
    return this.inspector?.url;
  }

  /** @internal `createScheduler()` calls it for `metricsPort`; a port that cannot be bound closes the scheduler and rejects. */
  async openMetrics(port: number): Promise<void> {
    try {
      this.metricsServer = await serveMetrics(this.metrics(), port);
      this.config.logger.info({ url: this.metricsServer.url }, `metrics: Prometheus text at ${this.metricsServer.url}`);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Stops accepting work, lets running tasks finish, then stops threads and closes the store. Queued tasks stay stored. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Each step runs even if one before it failed (a supervisor that died must not keep threads and the store open). */
  private async shutdown(): Promise<void> {
    this.monitor?.stop();
    this.freeLane.stop();
    this.ledger.wakeWaiters(); // ends the release watcher
    this.backoffs.clear();
    clearInterval(this.expiry);
    const steps: [string, () => Promise<unknown>][] = [
      ['stop the batches', async () => {
        this.supervisor.send({ type: 'CLOSE' });
        await waitFor(this.supervisor, (snapshot) => snapshot.status === 'done');
      }],
      ['let running tasks finish', () => this.drain()],
      ['stop pruning finished records', () => this.retention.stop()],
      ['stop the threads', () => this.pools.close()],
      ['close the store', () => this.store.close()],
      ['close the dashboard', async () => this.dashboard?.close()],
      ['close the metrics server', async () => this.metricsServer?.close()],
      ['stop the inspector', async () => this.inspector?.stop()],
    ];
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (error) {
        this.config.logger.error({ err: error }, `close: could not ${step}`);
      }
    }
    this.waiters.rejectAll((id) => new SchedulerClosedError(`wait for task ${id}`));
    this.controls.close();
    this.notify('closed');
  }

  /** Real VRAM use, polled: for detected GPUs, or any devices when a source is given. */
  private startMonitor(): AnyActorRef | undefined {
    const { gpuMonitor: options } = this.config;
    const real = this.config.devices === undefined && this.devices.every((d) => !d.unlimited);
    const source = options === false ? undefined : (options.source ?? (real ? systemUsage : undefined));
    if (options === false || source === undefined || this.config.scheduling.policy === 'permissive') return undefined;
    const monitor = createActor(gpuMonitor, {
      id: 'gpu-monitor',
      input: {
        source,
        intervalMs: options.intervalMs,
        ledger: this.ledger,
        typesOn: (index) => this.snapshot().batches.filter((b) => b.device === this.devices[index]!.id).map((b) => b.type),
        observations: this.observations,
        logger: this.config.logger,
      },
    });
    return monitor.start();
  }

  /** VRAM given back inside a batch (a lease shrinking, a task's grown VRAM) may let a waiting type start. */
  private async watchReleases(): Promise<void> {
    while (!this.closing) {
      await this.ledger.waitForRelease(Number.POSITIVE_INFINITY, this.ledger.version);
      this.wake();
    }
  }

  /** The 'queue' policy's maxWaitMs: tasks queued longer fail with WAIT_TIMEOUT. */
  private expireWaiting(): void {
    const { maxWaitMs } = this.config.scheduling;
    const message = `the task waited longer than maxWaitMs (${maxWaitMs} ms) without starting`;
    for (const entry of overdue(this.queues, this.config.types.keys(), maxWaitMs, Date.now())) {
      this.track(this.endQueued(entry, 'failed', { code: ErrorCode.WAIT_TIMEOUT, message }).catch((e: unknown) => this.taskBroken(entry, e)));
    }
  }

  /** A failed attempt with attempts left: queued again durably now, back in line after the backoff. */
  private retryLater(record: TaskState, error: TaskError): boolean {
    const type = this.config.types.get(record.type)!;
    const attempts = record.attempts ?? 1;
    if (attempts > type.retries || this.closing) return false;
    const delayMs = type.retryBackoffMs * 2 ** (attempts - 1);
    this.config.logger.warn({ id: record.id, type: record.type, attempts, delayMs, error }, 'task failed: trying again');
    const requeued = this.store.requeue(record.id, { lastError: error }).then((entry) => {
      this.backoffs.wait(entry.id, delayMs, () => {
        this.queues.push(entry);
        this.wake();
      });
      this.notify('task:retrying', { id: record.id, type: record.type, attempts, delayMs, error });
    });
    this.track(requeued.catch((e: unknown) => this.taskBroken(record, e)));
    return true;
  }

  /** A preempted task goes back to the head of its line at once, durably, with its handler's checkpoint. */
  private requeuePreempted(record: TaskState, checkpoint: { state: unknown } | undefined): void {
    const requeued = this.store.requeue(record.id, { preempted: { checkpoint } }).then((entry) => {
      this.queues.pushFront(entry);
      this.notify('task:preempted', { id: record.id, type: record.type, checkpointed: checkpoint !== undefined });
      this.wake();
    });
    this.track(requeued.catch((e: unknown) => this.taskBroken(record, e)));
  }

  private cancelQueued(task: Pick<QueueEntry, 'id' | 'type' | 'priority'>): Promise<void> {
    return this.endQueued(task, 'cancelled', { code: ErrorCode.CANCELLED, message: 'cancelled while queued' });
  }

  /** Ends a task that has not started: out of the queue, terminal in the store. */
  private async endQueued(task: Pick<QueueEntry, 'id' | 'type' | 'priority'>, status: 'cancelled' | 'failed', error: TaskError): Promise<void> {
    // In the in-memory queue unless it waits out a retry backoff, or its type is no longer configured.
    if (!this.backoffs.cancel(task.id) && this.config.types.has(task.type)) this.queues.remove(task);
    const done = await this.store.finish(task.id, { status, error, finishedAt: Date.now() });
    this.taskFinished(done);
    this.checkIdle();
  }

  private cancelOnAbort(id: string, signal: AbortSignal): void {
    const onAbort = () => void this.cancel(id).catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    this.signalCleanups.set(id, () => signal.removeEventListener('abort', onAbort));
  }

  /** Coalesces every change of one turn into a single supervisor event; free-lane work alone needs none. */
  private wake(supervisor = true): void {
    this.wakeSupervisor ||= supervisor;
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      this.wakeScheduled = false;
      if (this.closing) return;
      if (this.wakeSupervisor) {
        this.wakeSupervisor = false;
        this.supervisor.send({ type: 'WAKE' });
      }
      this.freeLane.pump();
    });
  }

  /** A handler's ctx.progress(), already throttled in its thread. Late reports of an ended task are dropped. */
  private taskProgress(id: string, value: number, info: unknown): void {
    const record = this.controls.isRunning(id) ? this.store.getState(id) : undefined;
    if (record === undefined) return;
    const progress = info === undefined ? { value } : { value, info };
    this.progress.set(id, progress);
    this.notify('task:progress', { id, type: record.type, ...progress });
  }

  private taskStarted(record: TaskState): void {
    this.notify('task:started', {
      id: record.id,
      type: record.type,
      startedAt: record.startedAt!,
      ...(record.device === undefined ? {} : { device: record.device }),
    });
  }

  private taskFinished(record: TaskState): void {
    this.progress.delete(record.id);
    this.admission.forget(record.type, record.key);
    this.signalCleanups.get(record.id)?.();
    this.signalCleanups.delete(record.id);
    const result = toResult(record)!;
    if (result.startedAt !== undefined) this.runTimes.record(record.type, result.finishedAt - result.startedAt);
    this.notify(`task:${result.status}`, result);
    this.waiters.settle(result);
    this.retention.poke();
  }

  /** The store refused a task's state change (disk full, store closed): fail it in memory so no caller waits forever; a restart sees its stored state. */
  private taskBroken(entry: Pick<TaskRecord, 'id' | 'type' | 'queuedAt' | 'key'>, error: unknown): void {
    this.config.logger.error({ id: entry.id, err: error }, 'task state could not be stored');
    this.admission.forget(entry.type, entry.key);
    const message = `the task's state could not be stored: ${error instanceof Error ? error.message : String(error)}`;
    const now = Date.now();
    this.waiters.settle({ id: entry.id, type: entry.type, status: 'failed', error: { code: ErrorCode.STORE_ERROR, message }, queuedAt: entry.queuedAt, finishedAt: now });
  }

  /** A state change being committed in the background: drain() and close() wait for it. */
  private track(committing: Promise<void>): void {
    this.committingOutcomes++;
    void committing.finally(() => {
      this.committingOutcomes--;
      this.checkIdle();
    });
  }

  /** A listener that throws must not break the scheduler's own bookkeeping: log it and go on. */
  private notify<E extends SchedulerEventName>(event: E, ...args: Parameters<SchedulerEvents[E]>): void {
    try {
      this.emit(event, ...args);
    } catch (error) {
      this.config.logger.error({ err: error, event }, 'an event listener threw');
    }
  }

  private checkIdle(): void {
    const idle =
      this.busyBatches() === 0 &&
      this.freeLane.inFlight === 0 &&
      this.committingOutcomes === 0 &&
      (this.backoffs.size === 0 || this.closing !== undefined) &&
      this.admission.writing === 0 &&
      (this.queues.size === 0 || this.closing !== undefined);
    if (!idle || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Batches running or finishing tasks: warm ones hold a model but do no work. */
  private busyBatches(): number {
    let busy = 0;
    for (const child of Object.values(this.supervisor.getSnapshot().children)) {
      const batch = child?.getSnapshot();
      // An ended batch stays among the children until the supervisor's transition completes.
      if (batch?.status === 'active' && batch.value !== 'warm') busy++;
    }
    return busy;
  }

  /** The committed state of a task (without its payload: status and result reads need none). */
  private read(id: string, call: string): TaskState {
    if (this.closing) throw new SchedulerClosedError(call);
    if (typeof id !== 'string') throw new TaskNotFoundError(String(id));
    const record = this.store.getCommittedState(id);
    if (!record) throw new TaskNotFoundError(id);
    return record;
  }
}

/** Both observers when both are given; none at all when neither is (XState then skips inspection). */
function inspectionOf(...observers: (InspectionObserver | undefined)[]): InspectionObserver | undefined {
  const given = observers.filter((o) => o !== undefined);
  if (given.length <= 1) return given[0];
  const all = given.map((o) => toObserver(o));
  return { next: (event) => all.forEach((o) => o.next?.(event)) };
}
