/**
 * The options a user passes to `createScheduler()`. Validated once, in `resolveConfig()`
 * (src/config.ts); everything past that edge trusts the resolved config.
 */
import type { SchedulingOptions } from './scheduling-options.js';
import type { ObservabilityOptions } from './observability-options.js';
import type { AnyTasks, TaskMap } from './tasks.js';
import type { Logger } from 'pino';
import type { RetentionOptions } from './store/retention.js';
import type { GpuUsageSource } from './gpu/usage.js';

/** One task type: one handler module, one model, one VRAM budget. */
export interface TypeOptions {
  /**
   * Module that default-exports a handler made with `defineHandler()`.
   * A relative path resolves against `process.cwd()`; a file URL (string or `URL`) or an
   * absolute path is taken as is. The file must exist when the scheduler is created.
   * @example './handlers/cover-letter.js'
   * @example new URL('./handlers/cover-letter.js', import.meta.url)
   */
  handler: string | URL;
  /**
   * VRAM budget in GB for one batch of this type (one loaded model).
   * Overridden by the config file (`scheduler.vram_budgets.<type>`) and then by the
   * environment variable `VRAM_BUDGET_<TYPE>` (type upper-cased, every character outside
   * `[A-Z0-9]` replaced by `_`). A GPU type with no budget from any source is warned about
   * and reserves nothing. Ignored (with a warning) when `gpu` is `false`.
   * @default undefined (no budget)
   * @example 9.5
   */
  vramGb?: number;
  /**
   * `false` = free lane: no VRAM accounting, tasks run at once in a shared thread pool.
   * @default true
   */
  gpu?: boolean;
  /**
   * Tasks of this type each of its worker threads runs at once, sharing that thread's loaded
   * model. The batch's lease covers the largest need among them, not their sum.
   * A positive integer, at most 256.
   * @default 1
   */
  concurrency?: number;
  /**
   * Worker threads a batch of this type runs, each loading its own copy of the model (like an
   * inference server's model instances): for handlers whose CPU work (tokenising, sampling,
   * pre- and post-processing) needs more than one core. A batch then reserves `threads` × the
   * type's budget (× a task's own `vramGb` when that is larger), on one device. GPU types only:
   * free-lane types share the free lane's threads (`freeLaneThreads`). A positive integer, at
   * most 64, with `threads` × `concurrency` at most 1021.
   * @default 1
   */
  threads?: number;
  /**
   * Time limit of each task of this type in ms, from its start: past it `ctx.signal` aborts
   * with reason 'timeout', and the task fails with `TIMEOUT` (its thread is terminated if the
   * handler does not settle within `cancelGraceMs`). A submit's `timeoutMs` overrides it.
   * @default none
   */
  timeoutMs?: number;
  /**
   * Further attempts for a task that fails with `HANDLER_ERROR` or `WORKER_CRASHED`; the
   * record's `attempts` counts them. Between attempts the task waits `retryBackoffMs`, doubling.
   * @default 0
   */
  retries?: number;
  /** @default 1000 */
  retryBackoffMs?: number;
  /**
   * Safe to run again from the start: a task that was running when the process stopped is
   * queued again at its place in line instead of failing with `INTERRUPTED`.
   * @default false
   */
  idempotent?: boolean;
  /**
   * With the scheduler's `preemption: true`, a running batch of this type may be stopped for a
   * critical or high task of another type that cannot fit otherwise. Its handlers see
   * `ctx.signal` abort with reason 'preempted' and may `await ctx.checkpoint(state)`; each task
   * goes back to its place in line and gets the state back as `ctx.resumeFrom`. A handler that
   * does not settle within `cancelGraceMs` has its thread terminated (and restarts from its last
   * checkpoint, if any). Preemptions do not count as attempts.
   * @default false
   */
  preemptible?: boolean;
  /**
   * How long a batch whose queue is empty stays warm: its threads keep the loaded model and
   * its lease, so a new task of the type starts without `load()`. A type that needs the VRAM
   * evicts idle warm batches, least recently used first. 0 releases at once.
   * @default 300000 (5 minutes, like Ollama's keep_alive)
   */
  keepAliveMs?: number;
  /**
   * The KV cache's VRAM per 1000 tokens, in GB. A submit that passes `estimatedTokens` then
   * needs `vramGb + estimatedTokens / 1000 × kvGbPer1kTokens`: for fit, for its batch's lease,
   * and for refusing what no device holds.
   * @default 0
   */
  kvGbPer1kTokens?: number;
  /**
   * System memory one task needs, in GB: a type waits (policy 'queue') or is refused (policy
   * 'safety') while the machine has less free memory.
   * @default 0
   */
  ramGb?: number;
  /**
   * Heap limit of each of this type's worker threads, in MB (V8's old generation, passed to the thread
   * as `resourceLimits.maxOldGenerationSizeMb`). A handler that allocates past it ends only its
   * own thread: every task running in it fails with `WORKER_CRASHED` (retried if `retries` says
   * so), as do tasks that ended in its last moments whose results it had not yet sent (a thread
   * sends the results of quick tasks together), their VRAM is returned, and a fresh thread loads
   * the model again for the next task.
   * Without it a thread may grow to V8's default limit (derived from the machine's memory, like
   * the main thread's) before it is ended. The limit covers the thread's JavaScript heap (the
   * loaded model's JS objects and the `concurrency` tasks sharing it), not native memory such
   * as Buffers. An integer >= 16. GPU types only: free-lane types (`gpu: false`) share their
   * threads, so giving one of them a limit is refused.
   * @default undefined (V8's default limit, derived from the machine's memory)
   * @example 2048
   */
  maxHeapMb?: number;
}

/** A simulated device: use instead of detecting real GPUs (tests, benches, shares of a card). */
export interface DeviceOptions {
  /**
   * Unique, non-empty device id; it appears in logs and in `TaskResult.device`.
   * @example 'gpu0'
   */
  id: string;
  /**
   * Capacity of the device in GB: a finite number > 0.
   * @example 24
   */
  vramGb: number;
}

/** Options of `createScheduler()`. */
export interface SchedulerOptions<T extends TaskMap<T> = AnyTasks> extends SchedulingOptions, ObservabilityOptions {
  /**
   * The task types, by name. At least one. A name is 1–64 characters of
   * `[A-Za-z0-9_.-]`, starts with a letter or digit and never contains `..`
   * (names appear in logs, environment variable names and store keys).
   * @example { cover_letter: { handler: './handlers/cover-letter.js', vramGb: 8 } }
   */
  types: { [K in keyof T]: TypeOptions };
  /**
   * Directory of the durable task store, relative to `process.cwd()` unless absolute.
   * @default './.vram-scheduler'
   */
  dataDir?: string;
  /**
   * Simulated devices: a non-empty array with unique ids. When absent, real NVIDIA GPUs are
   * detected (through `nvidia-smi`); with none, one unlimited `cpu` device is used.
   * @default undefined (detect real GPUs)
   * @example [{ id: 'gpu0', vramGb: 24 }, { id: 'gpu1', vramGb: 24 }]
   */
  devices?: DeviceOptions[];
  /**
   * A YAML (`.yaml`, `.yml`) or JSON (`.json`) file, relative to `process.cwd()` unless
   * absolute. Recognised keys: `scheduler.vram_budgets` (type → GB) and
   * `scheduler.max_queue_depth` (positive integer). Values in the file override these
   * options; `VRAM_BUDGET_<TYPE>` environment variables override the file.
   * @default undefined (no config file)
   * @example './scheduler.yaml'
   */
  configFile?: string;
  /**
   * Queued tasks per type before `submit` rejects with `QueueFullError`. A positive integer.
   * `scheduler.max_queue_depth` in the config file, when present, wins over this option
   * (the file is the deploy-time override, like budgets).
   * @default 500
   */
  maxQueueDepth?: number;
  /**
   * A pino logger. The scheduler logs through `logger.child({ service: serviceName })`.
   * @default pino({ name: serviceName, level: env.VRAM_SCHEDULER_LOG_LEVEL ?? 'info' })
   */
  logger?: Logger;
  /**
   * Name used for the default logger and the `service` field of log lines.
   * @default 'vram-scheduler'
   */
  serviceName?: string;
  /**
   * Threads of the shared free-lane pool (types with `gpu: false`). A positive integer.
   * @default os.availableParallelism()
   */
  freeLaneThreads?: number;
  /**
   * How many finished records (succeeded, failed, cancelled) the store keeps: older ones are
   * deleted in small background batches, oldest first, and `get`/`result` then throw
   * `TASK_NOT_FOUND` for them. `false` keeps every record forever.
   * @default { maxAgeMs: 0, maxCount: 100000 } (no age limit, the newest 100,000 kept)
   * @example { maxAgeMs: 24 * 3600_000, maxCount: 10_000 }
   */
  retain?: RetentionOptions | false;
  /**
   * The GPU monitor polls real VRAM use per device: VRAM used by other processes is kept out of
   * what tasks may reserve, and each type's real use is compared with its lease
   * (`snapshot().observed`, and a warning naming the budget to set). On by default for detected
   * GPUs (systeminformation and nvidia-smi); off for simulated devices unless a `source` is given.
   * `false` turns it off.
   * @default { intervalMs: 2000 }
   */
  gpuMonitor?: false | { intervalMs?: number; source?: GpuUsageSource };
  /**
   * Serve a live dashboard page (queues, batches, VRAM per device, recent failures) on
   * `http://127.0.0.1:<port>/`, loopback only. `0` picks a free port; read the address from
   * `scheduler.dashboardUrl` (it is also logged). A port that cannot be bound makes
   * `createScheduler()` reject with `INVALID_OPTIONS`. Closed by `close()`.
   * @default undefined (no dashboard)
   * @example 7070
   */
  dashboardPort?: number;
  /**
   * Environment read for `VRAM_BUDGET_<TYPE>` and `VRAM_SCHEDULER_LOG_LEVEL`
   * (for tests and embedding).
   * @default process.env
   */
  env?: Record<string, string | undefined>;
}
