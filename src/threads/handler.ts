/**
 * What a handler module default-exports, and the context a handler receives.
 * Handler modules run in worker threads; they import this through `vram-scheduler/worker`.
 */
import type { Logger } from 'pino';
import type { SubmitOptions, SubmitReceipt } from '../submit.js';

/** The device a GPU task runs on. Free-lane tasks have none. */
export interface TaskDevice {
  id: string;
  index: number;
}

/** Grow or shrink the VRAM this task holds beyond its batch's lease (e.g. a KV cache). */
export interface TaskVram {
  /** Extra VRAM this task holds now, in GB. */
  readonly extraGb: number;
  /**
   * Reserve `gb` more on the task's device, waiting until it is free. Rejects with code
   * `VRAM_GROW_TIMEOUT` after `timeoutMs` (default 30 s), or with `ctx.signal`'s reason when
   * the task is stopped; nothing changes then.
   */
  grow(gb: number, options?: { timeoutMs?: number }): Promise<void>;
  /** Reserve `gb` more on the task's device if it is free now; false when it is not (nothing changes). */
  tryGrow(gb: number): boolean;
  /** Give back up to `gb` of the extra VRAM. */
  shrink(gb: number): void;
}

/** Given to `load()`: once per thread and type, before the first task of a batch. */
export interface LoadContext {
  type: string;
  device: TaskDevice | undefined;
  log: Logger;
}

/** Given to `run()` with each task. */
export interface TaskContext extends LoadContext {
  taskId: string;
  /**
   * Aborted when the task must stop: `signal.reason` is 'cancelled', 'timeout' or 'preempted'.
   * Settle soon after: past the grace period the thread is terminated.
   */
  signal: AbortSignal;
  vram: TaskVram;
  /**
   * Saves `state` (structured-cloneable) for a preempted task: it goes back to its place in line
   * and its next run gets the state as `ctx.resumeFrom`. Call it once `signal` aborts with
   * 'preempted' (or at any safe point); the last call wins.
   */
  checkpoint(state: unknown): Promise<void>;
  /** The state the task's last preempted run saved with `checkpoint()`; undefined on a first run. */
  resumeFrom: unknown;
  /**
   * Reports progress (any finite number, e.g. a fraction or tokens so far, and optional
   * cloneable `info`): a `task:progress` event and `scheduler.get(id).progress` on the main
   * thread. Throttled to one report per 100 ms per task; the latest one wins.
   */
  progress(value: number, info?: unknown): void;
  /** Submits a follow-up task (durable, same rules as `scheduler.submit`; no `signal`). Rejects with the same typed errors. */
  submit(type: string, payload: unknown, options?: Omit<SubmitOptions, 'signal'>): Promise<SubmitReceipt>;
}

export interface HandlerDefinition<Payload = unknown, Result = unknown, Model = undefined> {
  /** Loads the model once per thread; its value is handed to every `run()` of the batch. */
  load?(ctx: LoadContext): Model | Promise<Model>;
  /** Runs one task. The result must be structured-cloneable. */
  run(payload: Payload, ctx: TaskContext, model: Model): Result | Promise<Result>;
  /** Frees the model when the batch ends. */
  unload?(model: Model): void | Promise<void>;
}

/** A normalized handler, as the worker expects it. */
export interface Handler<Payload = unknown, Result = unknown, Model = unknown>
  extends HandlerDefinition<Payload, Result, Model> {
  readonly [HANDLER]: true;
}

export const HANDLER: unique symbol = Symbol.for('vram-scheduler.handler');

/**
 * Declares a task handler. Either an object with `load`/`run`/`unload`, or a plain
 * `async (payload, ctx) => result` function for handlers with no model to keep warm.
 */
export function defineHandler<Payload = unknown, Result = unknown, Model = undefined>(
  definition: HandlerDefinition<Payload, Result, Model> | ((payload: Payload, ctx: TaskContext) => Result | Promise<Result>),
): Handler<Payload, Result, Model> {
  const normalized = typeof definition === 'function' ? { run: definition } : definition;
  if (typeof normalized !== 'object' || normalized === null || typeof normalized.run !== 'function') {
    throw new TypeError('defineHandler() expects a function or an object with a run(payload, ctx, model) method');
  }
  for (const hook of ['load', 'unload'] as const) {
    if (normalized[hook] !== undefined && typeof normalized[hook] !== 'function') {
      throw new TypeError(`defineHandler(): \`${hook}\` must be a function when given`);
    }
  }
  return Object.freeze({ ...normalized, [HANDLER]: true as const }) as Handler<Payload, Result, Model>;
}

export function isHandler(value: unknown): value is Handler {
  return typeof value === 'object' && value !== null && (value as Handler)[HANDLER] === true;
}
