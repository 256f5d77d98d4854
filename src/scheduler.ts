/**
 * The facade a user holds. It wires the parts and keeps the one-way flow readable:
 * submit → store (durable) → queue → supervisor picks a type → ledger reserves → batch actor
 * → pool → worker → outcome → store → waiters and events.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createActor, waitFor, type Actor } from 'xstate';
import { createRunTask, executeTask, type TaskRunDeps } from './actors/run-task.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { FreeLane } from './dispatch/free-lane.js';
import { TaskQueues } from './dispatch/queues.js';
import { QueueFullError, SchedulerClosedError, SchedulerError, StoreError, TaskNotFoundError } from './errors.js';
import type { SchedulerEventName, SchedulerEvents } from './events.js';
import { detectDevices, type Device } from './gpu/detect.js';
import { createBatchMachine } from './machines/batch.js';
import { createSupervisor, type SupervisorMachine } from './machines/supervisor.js';
import type { SchedulerOptions } from './options.js';
import { takeSnapshot, type SchedulerSnapshot } from './snapshot.js';
import { TaskStore } from './store/task-store.js';
import { checkSubmit, type SubmitOptions, type SubmitReceipt } from './submit.js';
import { toResult, type QueueEntry, type TaskRecord, type TaskResult } from './task.js';
import { Pools } from './threads/pools.js';
import { VramLedger } from './threads/vram-ledger.js';
import { ResultWaiters } from './waiters.js';
import { mibToGb } from './units.js';

/** Builds a scheduler: validates options, detects devices, opens the store and recovers queued work. */
export async function createScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const config = await resolveConfig(options);
  const devices = await detectDevices(config.devices, config.logger);
  const store = TaskStore.open({ dir: config.dataDir });
  try {
    const recovered = await store.recover(Date.now());
    for (const id of recovered.interrupted) config.logger.warn({ id }, 'task was running when the process stopped: marked failed (INTERRUPTED)');
    return new Scheduler(config, devices, store, recovered.queued);
  } catch (error) {
    await store.close();
    throw error;
  }
}

// Typed `on`/`once`/`off`/`emit`, after BullMQ's listener interfaces.
export interface Scheduler {
  on<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  once<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  off<E extends SchedulerEventName>(event: E, listener: SchedulerEvents[E]): this;
  emit<E extends SchedulerEventName>(event: E, ...args: Parameters<SchedulerEvents[E]>): boolean;
}

export class Scheduler extends EventEmitter {
  private readonly queues = new TaskQueues();
  private readonly ledger: VramLedger;
  private readonly pools: Pools;
  private readonly freeLane: FreeLane;
  private readonly supervisor: Actor<SupervisorMachine>;
  /** Live (queued or running) tasks by `type + key`, for deduplication. */
  private readonly keys = new Map<string, string>();
  /** Submits written but not yet committed, per type: they count toward the depth limit. */
  private readonly committing = new Map<string, number>();
  private readonly waiters = new ResultWaiters();
  private drainWaiters: (() => void)[] = [];
  private readonly largestDeviceMiB: number;
  private liveBatches = 0;
  /** Task outcomes written but not yet committed. */
  private committingOutcomes = 0;
  private wakeScheduled = false;
  private closing: Promise<void> | undefined;

  /** @internal Use `createScheduler()`. */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly devices: readonly Device[],
    private readonly store: TaskStore,
    recovered: readonly QueueEntry[],
  ) {
    super();
    this.ledger = VramLedger.create(devices.map((d) => ({ capacityMiB: d.capacityMiB })));
    this.largestDeviceMiB = Math.max(...devices.map((d) => d.capacityMiB));
    this.pools = new Pools({
      types: config.types,
      ledger: this.ledger.buffer,
      freeLaneThreads: config.freeLaneThreads,
      logLevel: config.logger.level,
      serviceName: config.serviceName,
      threadGone: (threadId) => this.ledger.recoverThread(threadId),
    });
    const run: TaskRunDeps = {
      store,
      pools: this.pools,
      ledger: this.ledger,
      started: (record) => this.taskStarted(record),
      finished: (record) => this.taskFinished(record),
      recorded: (committing) => {
        this.committingOutcomes++;
        void committing.finally(() => {
          this.committingOutcomes--;
          this.checkIdle();
        });
      },
      broken: (entry, error) => this.config.logger.error({ id: entry.id, err: error }, 'task could not be recorded'),
    };
    this.freeLane = new FreeLane({
      queues: this.queues,
      types: [...config.types.values()].filter((t) => !t.gpu).map((t) => t.name),
      capacity: config.freeLaneThreads * 4,
      run: (entry) => executeTask(run, { entry, device: undefined }),
      settled: () => this.checkIdle(),
    });
    const batch = createBatchMachine({
      queues: this.queues,
      ledger: this.ledger,
      runTask: createRunTask(run),
      unload: (type) => this.pools.unload(type),
    });
    this.supervisor = createActor(
      createSupervisor({
        queues: this.queues,
        ledger: this.ledger,
        devices,
        types: config.types,
        batch,
        batchStarted: (type, device, leaseMiB) => {
          this.liveBatches++;
          this.notify('batch:started', { type, device: device.id, vramGb: mibToGb(leaseMiB) });
        },
        batchEnded: (batch) => {
          this.liveBatches--;
          this.notify('batch:ended', batch);
          this.checkIdle();
        },
      }),
    );
    this.supervisor.subscribe({ error: (error) => this.config.logger.error({ err: error }, 'supervisor failed') });
    this.supervisor.start();
    this.recover(recovered);
  }

  /** Queues a task; resolves once it is durably stored. Bad input rejects with a typed error and writes nothing. */
  async submit(type: string, payload: unknown, options?: SubmitOptions): Promise<SubmitReceipt> {
    if (this.closing) throw new SchedulerClosedError('submit');
    const { priority, vramGb, vramMiB, key } = checkSubmit(this.config.types, this.largestDeviceMiB, type, payload, options);
    const dedupe = key === undefined ? undefined : `${type}\u0000${key}`;
    const existing = dedupe && this.keys.get(dedupe);
    if (existing) return { id: existing, isNew: false };
    const committing = this.committing.get(type) ?? 0;
    if (this.queues.depth(type) + committing >= this.config.maxQueueDepth) {
      this.config.logger.warn({ type, maxQueueDepth: this.config.maxQueueDepth }, 'queue full: submit refused');
      throw new QueueFullError(type, this.config.maxQueueDepth);
    }

    const id = randomUUID();
    const queuedAt = Date.now();
    const entry: QueueEntry = { id, type, seq: this.store.nextSeq(), priority, queuedAt, vramMiB };
    if (key !== undefined) entry.key = key;
    const record: TaskRecord = { id, type, seq: entry.seq, priority, payload, status: 'queued', queuedAt };
    if (vramGb !== undefined) record.vramGb = vramGb;
    if (key !== undefined) record.key = key;

    if (dedupe) this.keys.set(dedupe, id);
    this.committing.set(type, committing + 1);
    try {
      await this.store.insert(record, entry);
    } catch (error) {
      if (dedupe) this.keys.delete(dedupe);
      throw error instanceof SchedulerError ? error : new StoreError(`Could not store the task: ${String(error)}`, { cause: error });
    } finally {
      this.committing.set(type, (this.committing.get(type) ?? 1) - 1);
    }
    this.queues.push(entry);
    this.notify('task:queued', { id, type, priority, seq: entry.seq });
    this.wake();
    return { id, isNew: true };
  }

  /** The task's result once it has ended; resolves at once if it already has. */
  async wait(id: string): Promise<TaskResult> {
    const record = this.read(id, 'wait');
    const result = toResult(record);
    return result ?? this.waiters.add(id);
  }

  /** The terminal result, or `undefined` while the task is queued or running. */
  async result(id: string): Promise<TaskResult | undefined> {
    return toResult(this.read(id, 'read a result'));
  }

  /** The task's stored record. */
  async get(id: string): Promise<TaskRecord> {
    return this.read(id, 'read a task');
  }

  /** Submit, then wait for the result. */
  async run(type: string, payload: unknown, options?: SubmitOptions): Promise<TaskResult> {
    const { id } = await this.submit(type, payload, options);
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
    });
  }

  /** Stops accepting work, lets running tasks finish, then stops threads and closes the store. Queued tasks stay stored. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(): Promise<void> {
    this.freeLane.stop();
    this.supervisor.send({ type: 'CLOSE' });
    await waitFor(this.supervisor, (snapshot) => snapshot.status === 'done');
    await new Promise<void>((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkIdle();
    });
    this.waiters.rejectAll((id) => new SchedulerClosedError(`wait for task ${id}`));
    await this.pools.close();
    await this.store.close();
    this.notify('closed');
  }

  private recover(entries: readonly QueueEntry[]): void {
    let resumed = 0;
    for (const entry of entries) {
      if (!this.config.types.has(entry.type)) {
        this.config.logger.warn({ id: entry.id, type: entry.type }, 'queued task of a type that is no longer configured: left in the store');
        continue;
      }
      this.queues.push(entry);
      if (entry.key !== undefined) this.keys.set(`${entry.type}\u0000${entry.key}`, entry.id);
      resumed++;
    }
    if (resumed > 0) {
      this.config.logger.info({ tasks: resumed }, 'resumed queued tasks from the previous run');
      this.wake();
    }
  }

  /** Coalesces every change of one turn into a single supervisor event. */
  private wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      this.wakeScheduled = false;
      if (this.closing) return;
      this.supervisor.send({ type: 'WAKE' });
      this.freeLane.pump();
    });
  }

  private taskStarted(record: TaskRecord): void {
    this.notify('task:started', {
      id: record.id,
      type: record.type,
      startedAt: record.startedAt!,
      ...(record.device === undefined ? {} : { device: record.device }),
    });
  }

  private taskFinished(record: TaskRecord): void {
    if (record.key !== undefined) this.keys.delete(`${record.type}\u0000${record.key}`);
    const result = toResult(record)!;
    this.notify(result.status === 'succeeded' ? 'task:succeeded' : 'task:failed', result);
    this.waiters.settle(result);
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
      this.liveBatches === 0 &&
      this.freeLane.inFlight === 0 &&
      this.committingOutcomes === 0 &&
      (this.queues.size === 0 || this.closing !== undefined);
    if (!idle || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private read(id: string, call: string): TaskRecord {
    if (this.closing) throw new SchedulerClosedError(call);
    if (typeof id !== 'string') throw new TaskNotFoundError(String(id));
    const record = this.store.get(id);
    if (!record) throw new TaskNotFoundError(id);
    return record;
  }
}
