/**
 * Pools own threads. One Piscina pool per GPU type with a single thread, so the type's model
 * is loaded once and stays warm for the batch (its `concurrency` tasks share that thread);
 * one shared pool for the free lane, whose threads are each handed up to FREE_LANE_DEPTH tasks
 * and run them one at a time: the next one is already there when a task ends, instead of a
 * round trip through the main thread later.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { HardStop } from '../actors/task-controls.js';
import type { ResolvedType } from '../config.js';
import type { RunMessage, WorkerReply, WorkerSetup } from './protocol.js';
import { exposeAppCalls, isAppPortMessage, type AppCalls } from './app-calls.js';
import { RunningTable } from './running-table.js';

type Balancer = NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {};

const workerEntry = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

/** Tasks a free-lane thread holds at most: the one it runs and those waiting behind it. */
export const FREE_LANE_DEPTH = 4;
/** How often a hard stop looks again for the thread of a run that had not started yet. */
const HARD_STOP_RETRY_MS = 50;

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
  /**
   * Tasks a free-lane thread may hold now (1 to FREE_LANE_DEPTH): more only while tasks are
   * short next to a claim's commit, so a task never waits behind a long one while a thread idles.
   */
  freeLaneDepth(): number;
}

export class Pools {
  private readonly gpu = new Map<string, Piscina>();
  private freeLane: Piscina | undefined;
  /** Per pool, its threads that are ready (Piscina hands tasks only to those); a terminated one stays until its exit. */
  private readonly readyThreads = new WeakMap<Piscina, Set<number>>();
  private readonly setup: WorkerSetup;
  /** Which run each free-lane thread is executing. */
  private readonly running = RunningTable.create();

  constructor(private readonly options: PoolsOptions) {
    const handlers: Record<string, string> = {};
    for (const [name, type] of options.types) handlers[name] = type.handlerUrl;
    this.setup = { handlers, ledger: options.ledger, logLevel: options.logLevel, serviceName: options.serviceName, abortChannel: options.abortChannel, running: this.running.buffer };
  }

  /**
   * Runs one task. Rejects only when its worker thread died or was terminated (by `signal`, or
   * another task's in the same thread). Piscina is never given the signal: it runs an abortable
   * task alone in its thread, which would serialise a GPU type's `concurrency` and empty the
   * free lane's line; the thread running the task is terminated here instead.
   */
  run(message: RunMessage, signal?: HardStop): Promise<WorkerReply> {
    const pool = this.pool(message.type);
    const serial = !this.options.types.get(message.type)!.gpu;
    if (serial) message.serial = true;
    const running = pool.run(message);
    if (!signal) return running;
    let settled = false;
    const terminate = (): void => {
      if (settled) return;
      if (serial) {
        // Not started yet: it is skipped at its turn (its ctx.signal is aborted), unless it
        // starts before the abort reaches its thread; so look again until it settles.
        const threadId = this.running.threadOf(message.run);
        const thread = threadId === undefined ? undefined : pool.threads.find((t) => t.threadId === threadId);
        if (thread) void thread.terminate();
        else setTimeout(terminate, HARD_STOP_RETRY_MS).unref();
        return;
      }
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

  /**
   * After a run was rejected (its thread died): whether its handler had started (the attempt
   * counts) or, in the free lane, it was still waiting behind another run (it did not). Once per run.
   */
  startedBeforeCrash(message: RunMessage): boolean {
    if (!message.serial) return true; // a GPU type's runs all start at once in their thread
    if (this.running.threadOf(message.run) === undefined) return false;
    this.running.forget(message.run);
    return true;
  }

  /** Ends a GPU type's batch in its thread: `unload()` runs and the model is forgotten. */
  async unload(type: string): Promise<void> {
    const pool = this.gpu.get(type);
    if (pool) await pool.run({ op: 'unload', type });
  }

  /** Stops every thread. Call after the tasks have finished. */
  async close(): Promise<void> {
    const pools = [...this.gpu.values(), ...(this.freeLane ? [this.freeLane] : [])];
    this.gpu.clear();
    this.freeLane = undefined;
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }

  private pool(typeName: string): Piscina {
    const type = this.options.types.get(typeName)!;
    if (!type.gpu) return (this.freeLane ??= this.create(this.options.freeLaneThreads, FREE_LANE_DEPTH, undefined, this.freeLaneBalancer));
    let pool = this.gpu.get(typeName);
    if (!pool) {
      pool = this.create(1, type.concurrency, type.maxHeapMb);
      this.gpu.set(typeName, pool);
    }
    return pool;
  }

  /** An idle thread first, else the least busy one below the lane's depth now; none (the task waits in Piscina's queue) when all are at it. */
  private readonly freeLaneBalancer: Balancer = (_task, workers) => {
    const depth = this.options.freeLaneDepth();
    let best: (typeof workers)[number] | null = null;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed) continue;
      if (worker.currentUsage === 0) return worker;
      if (worker.currentUsage < depth && (best === null || worker.currentUsage < best.currentUsage)) best = worker;
    }
    return best;
  };

  private create(threads: number, concurrentTasksPerWorker: number, maxHeapMb?: number, loadBalancer?: Balancer): Piscina {
    const pool = new Piscina({
      filename: workerEntry,
      ...(loadBalancer ? { loadBalancer } : {}),
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
