/**
 * Pools own threads. One Piscina pool per GPU type with a single thread, so the type's model
 * is loaded once and stays warm for the batch (its `concurrency` tasks share that thread);
 * one shared pool for the free lane, whose threads take their tasks from a board (FreeLaneThreads).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { TaskStops } from '../actors/task-controls.js';
import type { ResolvedType } from '../config.js';
import { isLaneReport, type RunMessage, type WorkerReply, type WorkerSetup } from './protocol.js';
import { FreeLaneThreads } from './free-lane-threads.js';
import { exposeAppCalls, isAppPortMessage, type AppCalls } from './app-calls.js';

const workerEntry = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

export interface PoolsOptions {
  types: ReadonlyMap<string, ResolvedType>;
  ledger: SharedArrayBuffer;
  freeLaneThreads: number;
  logLevel: string;
  /** A worker thread is gone (crashed or retired): the ledger repairs anything it left half-done. */
  threadGone(threadId: number): void;
  serviceName: string;
  /** The BroadcastChannel on which workers receive requests to abort a task's ctx.signal. */
  abortChannel: string;
  /** What handlers may call on the main thread (ctx.progress, ctx.submit). */
  appCalls: AppCalls;
  /** A thread died while running no task (a handler's error or allocation outlived its task); a fresh thread replaces it. */
  threadFailed?(error: unknown): void;
}

export class Pools {
  private readonly gpu = new Map<string, Piscina>();
  private freeLane: { pool: Piscina; threads: FreeLaneThreads } | undefined;
  /** Per pool, its threads that are ready (Piscina hands tasks only to those); a terminated one stays until its exit. */
  private readonly readyThreads = new WeakMap<Piscina, Set<number>>();
  private readonly setup: WorkerSetup;

  constructor(private readonly options: PoolsOptions) {
    const handlers: Record<string, string> = {};
    for (const [name, type] of options.types) handlers[name] = type.handlerUrl;
    this.setup = { handlers, ledger: options.ledger, logLevel: options.logLevel, serviceName: options.serviceName, abortChannel: options.abortChannel };
  }

  /**
   * Runs one task. Rejects only when its worker thread died or was terminated (by `stops.hardStop`,
   * or another task's in the same GPU thread), or when a free-lane task was asked to stop before a
   * thread took it.
   */
  run(message: RunMessage, stops?: TaskStops): Promise<WorkerReply> {
    if (!this.options.types.get(message.type)!.gpu) return this.lane().run(message, stops);
    const pool = this.pool(message.type);
    const signal = stops?.hardStop;
    if (!signal) return pool.run(message);
    // Piscina runs an abortable task alone in its thread, which would serialise a GPU type's
    // `concurrency`: its one thread is terminated here instead (its other tasks fail with it).
    const running = pool.run(message);
    let settled = false;
    const terminate = (): void => {
      if (settled) return;
      const ready = this.readyThreads.get(pool)!;
      const thread = pool.threads.find((t) => ready.has(t.threadId));
      // A thread still starting holds no task (Piscina queues it) and, terminated, would not be
      // replaced: wait until one is ready and has been handed the task.
      if (thread) void thread.terminate();
      else pool.once('workerCreate', () => setImmediate(terminate));
    };
    signal.addEventListener('abort', terminate);
    return running.finally(() => {
      settled = true;
      signal.removeEventListener('abort', terminate);
    });
  }

  /** Ends a GPU type's batch in its thread: `unload()` runs and the model is forgotten. */
  async unload(type: string): Promise<void> {
    const pool = this.gpu.get(type);
    if (pool) await pool.run({ op: 'unload', type });
  }

  /** Stops every thread. Call after the tasks have finished. */
  async close(): Promise<void> {
    this.freeLane?.threads.close();
    const pools = [...this.gpu.values(), ...(this.freeLane ? [this.freeLane.pool] : [])];
    this.gpu.clear();
    this.freeLane = undefined;
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }

  private lane(): FreeLaneThreads {
    if (!this.freeLane) {
      const pool = this.create(this.options.freeLaneThreads, 1);
      const threads = new FreeLaneThreads(pool, this.options.freeLaneThreads, `${this.options.abortChannel}-lane`, (error) => this.options.threadFailed?.(error));
      pool.on('message', (message: unknown) => {
        if (isLaneReport(message)) threads.report(message);
      });
      this.freeLane = { pool, threads };
    }
    return this.freeLane.threads;
  }

  private pool(typeName: string): Piscina {
    const type = this.options.types.get(typeName)!;
    let pool = this.gpu.get(typeName);
    if (!pool) {
      pool = this.create(1, type.concurrency, type.maxHeapMb);
      this.gpu.set(typeName, pool);
    }
    return pool;
  }

  private create(threads: number, concurrentTasksPerWorker: number, maxHeapMb?: number): Piscina {
    const pool = new Piscina({
      filename: workerEntry,
      workerData: this.setup,
      // Every thread stays: a retired one would re-import its handler and reload its model.
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker,
      // Idle workers must keep their event loop running (no Atomics.wait between tasks).
      atomics: 'disabled',
      // A thread past its heap limit is terminated (ERR_WORKER_OUT_OF_MEMORY): its tasks fail, a fresh thread replaces it.
      ...(maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }),
    });
    // Piscina reports a destroyed worker without its id (a dead worker's threadId reads -1):
    // remember the ids of live workers and report those that are no longer among them.
    const known = new Set<number>();
    this.readyThreads.set(pool, known);
    pool.on('message', (message: unknown) => {
      if (isAppPortMessage(message)) exposeAppCalls(this.options.appCalls, message.vramSchedulerAppPort);
    });
    const gone = (threadId: number): void => {
      if (known.delete(threadId)) this.options.threadGone(threadId);
    };
    pool.on('workerCreate', (worker: { id: number }) => {
      const threadId = worker.id; // read now: a dead worker's id reads -1
      known.add(threadId);
      // A thread that died of an uncaught error, or was terminated, still reads its id at
      // workerDestroy below: its 'exit' (the thread has stopped for sure) reports it.
      pool.threads.find((thread) => thread.threadId === threadId)?.once('exit', () => gone(threadId));
    });
    pool.on('workerDestroy', () => {
      const live = new Set(pool.threads.map((thread) => thread.threadId));
      for (const threadId of known) if (!live.has(threadId)) gone(threadId);
    });
    // Piscina emits 'error' for a thread that dies with no task to fail; unheard, that event
    // would crash the whole process. The thread is reported gone above, at the latest at its exit.
    pool.on('error', (error: unknown) => this.options.threadFailed?.(error));
    return pool;
  }
}
