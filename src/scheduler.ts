/**
 * The facade a user holds. It wires the parts and keeps the one-way flow readable:
 * submit → store (durable) → queue → supervisor picks a type → ledger reserves → batch actor
 * → pool → worker → outcome → store → waiters and events.
 *
 * The parts it holds, each in src/scheduler/: the wiring of pools, lanes and supervisor
 * (wiring.ts), what a task's progress and end report (outcomes.ts), ending queued tasks
 * (ending.ts), putting tasks back in line (requeues.ts), drain() (idle.ts), waking the
 * dispatchers (wake.ts), the dashboard, metrics and inspector (observability.ts), the GPU
 * monitor (monitor.ts) and events (notify.ts).
 */
import { EventEmitter } from 'node:events';
import { waitFor, type Actor, type AnyActorRef } from 'xstate';
import type { RunTaskInput, TaskRan } from './actors/run-task.js';
import type { TaskControls } from './actors/task-controls.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { batchNeedMiB, batchSeats } from './dispatch/batch-need.js';
import type { FreeLane } from './dispatch/free-lane.js';
import { Backoffs } from './dispatch/backoffs.js';
import { TaskQueues } from './dispatch/queues.js';
import { Admission } from './admission.js';
import { QueueFullError, SchedulerClosedError, SchedulerError, StoreError, TaskNotFoundError, UnknownTypeError } from './errors.js';
import type { SchedulerEventName, SchedulerEvents } from './events.js';
import { detectDevices, UNLIMITED_MIB, type Device } from './gpu/detect.js';
import { VramObservations } from './gpu/observed.js';
import { startInspector, type LiveInspector } from './inspector.js';
import type { Registry } from 'prom-client';
import type { SupervisorMachine } from './machines/supervisor.js';
import type { SchedulerOptions } from './options.js';
import type { AnyTasks, TaskInput, TaskMap, TaskName, TaskOutput, TypedTaskId } from './tasks.js';
import { refuseUnlessStartable } from './policy.js';
import { positionIn, RunTimes, type QueuePosition } from './position.js';
import { recoverQueued } from './recovery.js';
import { liveBatches, takeSnapshot, type SchedulerSnapshot } from './snapshot.js';
import { Retention } from './store/retention.js';
import { TaskStore, type TaskState } from './store/task-store.js';
import { checkSubmit, type SubmitOptions, type SubmitReceipt } from './submit.js';
import { toResult, type QueueEntry, type TaskRecord, type TaskResult } from './task.js';
import { newTaskId } from './task-id.js';
import type { Pools } from './threads/pools.js';
import type { VramLedger } from './threads/vram-ledger.js';
import { ResultWaiters } from './waiters.js';
import { QueuedEnds, SignalLinks } from './scheduler/ending.js';
import { busyBatches, Idle } from './scheduler/idle.js';
import { startMonitor } from './scheduler/monitor.js';
import { notifier, type Notify } from './scheduler/notify.js';
import { inspectionOf, Observability } from './scheduler/observability.js';
import { Outcomes } from './scheduler/outcomes.js';
import { Requeues } from './scheduler/requeues.js';
import { Wake } from './scheduler/wake.js';
import { wire, type Wiring } from './scheduler/wiring.js';

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
  private readonly ledger: VramLedger;
  private readonly pools: Pools;
  private readonly freeLane: FreeLane;
  private readonly runTask: (input: RunTaskInput) => Promise<TaskRan>;
  private readonly takeSeat: Wiring['takeSeat'];
  private readonly takenLater: Wiring['takenLater'];
  private readonly supervisor: Actor<SupervisorMachine>;
  private readonly controls: TaskControls;
  private readonly admission = new Admission();
  private readonly backoffs = new Backoffs();
  private readonly runTimes = new RunTimes();
  private readonly retention: Retention;
  private readonly observations = new VramObservations();
  private readonly waiters = new ResultWaiters();
  private readonly notify: Notify;
  private readonly wake: Wake;
  private readonly idle: Idle;
  private readonly outcomes: Outcomes;
  private readonly signals: SignalLinks;
  private readonly queuedEnds: QueuedEnds;
  private readonly requeues: Requeues;
  private readonly observability: Observability;
  private readonly monitor: AnyActorRef | undefined;
  private readonly largestDeviceMiB: number;
  private closing: Promise<void> | undefined;

  /** @internal Use `createScheduler()`. */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly devices: readonly Device[],
    private readonly store: TaskStore,
    resumed: readonly QueueEntry[],
    inspector?: LiveInspector | undefined,
  ) {
    super();
    this.notify = notifier(this, config.logger);
    this.queues = new TaskQueues(config.scheduling);
    const parts = wire(
      config,
      devices,
      store,
      this.queues,
      {
        progress: (taskId, value, info) => this.outcomes.progressed(taskId, value, info),
        submit: (type, payload, options) => (this as Scheduler).submit(type, payload, options),
        started: (record) => this.outcomes.started(record),
        finished: (record) => this.outcomes.finished(record),
        recorded: (committing) => this.idle.track(committing),
        retry: (record, error) => this.requeues.retryLater(record, error),
        preempted: (record, checkpoint) => this.requeues.preempted(record, checkpoint),
        broken: (entry, error) => this.outcomes.broken(entry, error),
        checkIdle: () => this.idle.check(),
        wake: () => this.wake.request(),
        notify: this.notify,
      },
      inspectionOf(config.observability.inspect, inspector?.inspect),
    );
    this.controls = parts.controls;
    this.ledger = parts.ledger;
    this.pools = parts.pools;
    this.freeLane = parts.freeLane;
    this.runTask = parts.runTask;
    this.takeSeat = parts.takeSeat;
    this.takenLater = parts.takenLater;
    this.supervisor = parts.supervisor;
    this.largestDeviceMiB = largestCapacity(devices);
    this.retention = new Retention(store, config.retain, config.logger);
    const closing = () => this.closing !== undefined;
    this.wake = new Wake({ supervisor: this.supervisor, freeLane: this.freeLane, closing });
    this.idle = new Idle(
      () =>
        busyBatches(this.supervisor) === 0 &&
        this.freeLane.inFlight === 0 &&
        (this.backoffs.size === 0 || closing()) &&
        this.admission.writing === 0 &&
        (this.queues.size === 0 || closing()),
    );
    this.signals = new SignalLinks((id) => this.cancel(id));
    const { admission, backoffs, controls, queues, notify } = this;
    this.outcomes = new Outcomes({ store, controls, admission, runTimes: this.runTimes, waiters: this.waiters, retention: this.retention, signals: this.signals, notify, logger: config.logger });
    const track = (committing: Promise<void>) => this.idle.track(committing);
    const broken = (entry: QueueEntry | TaskState, error: unknown) => this.outcomes.broken(entry, error);
    const finished = (record: TaskState) => this.outcomes.finished(record);
    this.queuedEnds = new QueuedEnds({ config, store, queues, backoffs, finished, checkIdle: () => this.idle.check(), track, broken });
    this.requeues = new Requeues({ config, store, queues, backoffs, closing, wake: () => this.wake.request(), notify, track, broken });
    this.observability = new Observability({ config, source: this, inspector, close: () => this.close() });
    // Given a registry, count from the start; otherwise from the first metrics() call.
    if (config.observability.metricsRegistry || config.observability.metricsPort !== undefined) this.metrics();
    this.supervisor.subscribe({ error: (error) => this.config.logger.error({ err: error }, 'supervisor failed') });
    this.supervisor.start();
    for (const entry of resumed) {
      this.queues.push(entry);
      this.admission.restore(entry);
    }
    this.wake.request();
    void this.watchReleases();
    this.retention.poke(true); // records may have aged while the process was down
    this.monitor = startMonitor({
      config,
      devices,
      ledger: this.ledger,
      observations: this.observations,
      batchTypes: () => {
        const byDevice = this.devices.map((): string[] => []);
        for (const batch of liveBatches(this.supervisor.getSnapshot())) byDevice[this.devices.findIndex((d) => d.id === batch.device)]?.push(batch.type);
        return byDevice;
      },
    });
    this.queuedEnds.startExpiry();
  }

  /** Queues a task; resolves once it is durably stored. Bad input rejects with a typed error and writes nothing. */
  submit<K extends TaskName<T>>(type: K, payload: TaskInput<T, K>, options?: SubmitOptions): Promise<SubmitReceipt<K>>;
  async submit(type: string, payload: unknown, options?: SubmitOptions): Promise<SubmitReceipt> {
    if (this.closing) throw new SchedulerClosedError('submit');
    const { priority, vramGb, vramMiB, key, timeoutMs, signal } = checkSubmit(this.config.types, this.largestDeviceMiB, type, payload, options);
    if (this.config.scheduling.policy === 'safety') {
      const taskType = this.config.types.get(type)!;
      const freeMiB = this.devices.map((d) => this.ledger.free(d.index));
      refuseUnlessStartable(taskType, batchNeedMiB(taskType, vramMiB), liveBatches(this.supervisor.getSnapshot()), freeMiB);
    }
    const holding = this.admission.holderOf(type, key);
    if (holding) {
      const holder = await holding;
      if (holder !== undefined) return { id: holder, isNew: false };
      if (this.closing) throw new SchedulerClosedError('submit');
    }

    const queuedAt = Date.now();
    const id = newTaskId(queuedAt);
    const entry: QueueEntry = { id, type, seq: this.store.nextSeq(), priority, queuedAt, vramMiB };
    const record: TaskRecord = { id, type, seq: entry.seq, priority, payload, status: 'queued', queuedAt };
    if (vramGb !== undefined) record.vramGb = vramGb;
    if (key !== undefined) record.key = entry.key = key;
    if (timeoutMs !== undefined) record.timeoutMs = entry.timeoutMs = timeoutMs;
    // A task its lane would start at once (a free thread or batch seat, nothing queued or being
    // written ahead of it) is stored as running: one commit before it starts instead of two.
    const seat = this.admission.writing === 0 ? this.takeSeat(entry) : undefined;
    let claimed: TaskRecord | undefined;
    try {
      await this.admission.admit({ id, type, key }, this.queues.depth(type), this.config.maxQueueDepth, async () => {
        if (seat) claimed = await this.store.insertRunning(record, entry, { startedAt: Date.now(), ...(seat.device ? { device: seat.device.id } : {}) });
        else {
          await this.store.insert(record, entry);
          this.queues.push(entry); // before the submit stops counting as "being written"
        }
      });
    } catch (error) {
      seat?.giveBack();
      if (error instanceof QueueFullError) this.config.logger.warn({ type, maxQueueDepth: this.config.maxQueueDepth }, 'queue full: submit refused');
      throw error instanceof SchedulerError ? error : new StoreError(`Could not store the task: ${String(error)}`, { cause: error });
    } finally {
      this.idle.check(); // drain() and close() wait for submits being written
    }
    this.notify('task:queued', { id, type, priority, seq: entry.seq });
    if (seat && claimed) seat.adopt(this.runTask({ entry, device: seat.device, claimed }));
    else if (!this.takenLater(type)) this.wake.request(this.config.types.get(type)!.gpu);
    if (signal) this.signals.link(id, signal);
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
    if (current?.status === 'running') {
      // Stored as running by its submit, whose task:queued listeners may call this: it begins in the same turn.
      await Promise.resolve();
      return this.controls.stop(id, 'cancelled');
    }
    if (current?.status !== 'queued') return false;
    await this.queuedEnds.cancel(current);
    return true;
  }

  /** Cancels every queued task (of one type); running tasks go on. Resolves the number cancelled. */
  async clear(type?: string): Promise<number> {
    if (this.closing) throw new SchedulerClosedError('clear queues');
    if (type !== undefined && !this.config.types.has(type)) throw new UnknownTypeError(type, [...this.config.types.keys()]);
    const entries = (type === undefined ? [...this.config.types.keys()] : [type]).flatMap((name) => [...this.queues.entries(name)]);
    await Promise.all(entries.map((entry) => this.queuedEnds.cancel(entry)));
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
    return positionIn(this.queues, id, record.type, this.runTimes.mean(record.type), type.gpu ? batchSeats(type) : this.config.freeLaneThreads);
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
    const progress = record.status === 'running' ? this.outcomes.progressOf(id) : undefined;
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
    return this.idle.drain();
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
    return this.observability.dashboardUrl;
  }

  /** @internal `createScheduler()` calls it for `dashboardPort`; a port that cannot be bound closes the scheduler and rejects. */
  openDashboard(port: number): Promise<void> {
    return this.observability.openDashboard(port);
  }

  /**
   * The scheduler's Prometheus metrics (prom-client): queued tasks per type and priority, running
   * tasks, tasks by terminal status, wait and run time histograms, VRAM capacity and reservations
   * per device, live batches, batches started (model loads) and ended by reason (evictions).
   * The registry is `options.metricsRegistry` when given, else one of its own.
   */
  metrics(): Registry {
    return this.observability.metrics();
  }

  /** `http://127.0.0.1:<port>/metrics` when `metricsPort` is set. */
  get metricsUrl(): string | undefined {
    return this.observability.metricsUrl;
  }

  /** The Stately inspector's page when `inspector` (or `VRAM_SCHEDULER_INSPECT`) is on. */
  get inspectorUrl(): string | undefined {
    return this.observability.inspectorUrl;
  }

  /** @internal `createScheduler()` calls it for `metricsPort`; a port that cannot be bound closes the scheduler and rejects. */
  openMetrics(port: number): Promise<void> {
    return this.observability.openMetrics(port);
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
    this.queuedEnds.stopExpiry();
    const steps: [string, () => Promise<unknown>][] = [
      ['stop the batches', async () => {
        this.supervisor.send({ type: 'CLOSE' });
        await waitFor(this.supervisor, (snapshot) => snapshot.status === 'done');
      }],
      ['let running tasks finish', () => this.drain()],
      ['stop pruning finished records', () => this.retention.stop()],
      ['stop the threads', () => this.pools.close()],
      ['close the store', () => this.store.close()],
      ...this.observability.closeSteps(),
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

  /** VRAM given back inside a batch (a lease shrinking, a task's grown VRAM) may let a waiting type start. */
  private async watchReleases(): Promise<void> {
    while (!this.closing) {
      await this.ledger.waitForRelease(Number.POSITIVE_INFINITY, this.ledger.version);
      this.wake.request();
    }
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
