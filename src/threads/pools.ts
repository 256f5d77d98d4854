/**
 * Pools own threads. One Piscina pool per GPU type, with its `threads` threads (one unless the
 * type asks for more): each loads the type's model once, and it stays warm for the batch (the
 * thread's `concurrency` tasks share it); one shared pool for the free lane. Each pool's threads
 * take their tasks from a board (LaneThreads).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { TaskStops } from '../actors/task-controls.js';
import type { ResolvedType } from '../config.js';
import { isLaneReport, type RunMessage, type WorkerReply, type WorkerSetup } from './protocol.js';
import { LaneThreads } from './lane-threads.js';
import { exposeAppCalls, isAppPortMessage, type AppCalls } from './app-calls.js';

/** A pool and the board its threads take tasks from. */
interface Lane {
  pool: Piscina;
  threads: LaneThreads;
}

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
  /** Tests only: see LaneThreadsOptions.quickMs. */
  quickMs?: number;
}

export class Pools {
  /** Per GPU type, its pool; and the free lane's shared pool. Each pool's threads take their tasks from its board. */
  private readonly gpu = new Map<string, Lane>();
  private freeLane: Lane | undefined;
  private readonly setup: WorkerSetup;

  constructor(private readonly options: PoolsOptions) {
    const handlers: Record<string, string> = {};
    for (const [name, type] of options.types) handlers[name] = type.handlerUrl;
    this.setup = { handlers, ledger: options.ledger, logLevel: options.logLevel, serviceName: options.serviceName, abortChannel: options.abortChannel };
  }

  /**
   * Runs one task. Rejects only when its worker thread died or was terminated (by
   * `stops.hardStop`, or another task's in the same GPU thread), or when the task was asked to
   * stop before a thread took it.
   */
  run(message: RunMessage, stops?: TaskStops): Promise<WorkerReply> {
    return this.lane(message.type).threads.run(message, stops);
  }

  /** Ends a GPU type's batch in each of its threads: `unload()` runs and the model is forgotten. */
  async unload(type: string): Promise<void> {
    await this.gpu.get(type)?.threads.unload(type);
  }

  /** Stops every thread. Call after the tasks have finished. */
  async close(): Promise<void> {
    const lanes = [...this.gpu.values(), ...(this.freeLane ? [this.freeLane] : [])];
    this.gpu.clear();
    this.freeLane = undefined;
    for (const lane of lanes) lane.threads.close();
    await Promise.allSettled(lanes.map((lane) => lane.pool.destroy()));
  }

  private lane(typeName: string): Lane {
    const type = this.options.types.get(typeName)!;
    if (!type.gpu) {
      const threads = this.options.freeLaneThreads;
      return (this.freeLane ??= this.laneOf('free', this.create(threads), threads, 1));
    }
    let lane = this.gpu.get(typeName);
    if (!lane) {
      lane = this.laneOf(`gpu-${typeName}`, this.create(type.threads, type.maxHeapMb), type.threads, type.concurrency);
      this.gpu.set(typeName, lane);
    }
    return lane;
  }

  private laneOf(name: string, pool: Piscina, threads: number, perThread: number): Lane {
    const threadFailed = (error: unknown): void => this.options.threadFailed?.(error);
    const { quickMs } = this.options;
    const lane: Lane = { pool, threads: new LaneThreads({ pool, threads, perThread, channel: `${this.options.abortChannel}-${name}`, threadFailed, ...(quickMs === undefined ? {} : { quickMs }) }) };
    pool.on('message', (message: unknown) => {
      if (isLaneReport(message)) lane.threads.report(message);
    });
    return lane;
  }

  private create(threads: number, maxHeapMb?: number): Piscina {
    const pool = new Piscina({
      filename: workerEntry,
      workerData: this.setup,
      // Every thread stays: a retired one would re-import its handler and reload its model.
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 1, // its serve task: the thread's tasks come through the board
      // Idle workers must keep their event loop running (no Atomics.wait between tasks).
      atomics: 'disabled',
      // A thread past its heap limit is terminated (ERR_WORKER_OUT_OF_MEMORY): its tasks fail, a fresh thread replaces it.
      ...(maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }),
    });
    // Piscina reports a destroyed worker without its id (a dead worker's threadId reads -1):
    // remember the ids of live workers and report those that are no longer among them.
    const known = new Set<number>();
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
