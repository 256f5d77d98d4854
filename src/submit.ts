/** Per-submit options and the checks a submit passes before anything is written. */
import type { ResolvedType } from './config.js';
import { batchNeedMiB } from './dispatch/batch-need.js';
import { BudgetExceedsDevicesError, expected, InvalidPayloadError, UnknownTypeError } from './errors.js';
import { PRIORITIES, type Priority } from './task.js';
import type { TaskId } from './tasks.js';
import { gbToMiB, mibToGb } from './units.js';
import { checkSendable } from './threads/lane-tasks.js';

export interface SubmitOptions {
  /** Served most urgent first; FIFO within a priority. @default 'normal' */
  priority?: Priority;
  /** VRAM this one task needs in GB, overriding its type's budget (the batch grows its lease to cover it). */
  vramGb?: number;
  /** Deduplication key: while a task of the same type with this key is queued or running, submit returns its id with `isNew: false`. */
  key?: string;
  /** Time limit in ms from the task's start, overriding its type's `timeoutMs`. */
  timeoutMs?: number;
  /** Tokens the task is expected to process: adds `estimatedTokens / 1000 × kvGbPer1kTokens` GB (its type's) to its VRAM need. */
  estimatedTokens?: number;
  /** Aborting it cancels the task (as `cancel(id)` does); an already aborted signal refuses the submit with its reason. */
  signal?: AbortSignal;
}

export interface SubmitReceipt<K extends string = string> {
  /** The task's id; typed by its task type when the scheduler has declared tasks (see `Task`). */
  id: TaskId<K>;
  /** false when `key` matched a task that is already queued or running. */
  isNew: boolean;
}

function validateSubmitOptions(options: unknown): SubmitOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw expected('options', 'an object', options);
  }
  const { priority, vramGb, key, timeoutMs, signal, estimatedTokens, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw expected(`options.${unknown[0]}`, 'absent (valid submit options: priority, vramGb, key, timeoutMs, signal, estimatedTokens)', rest[unknown[0]!]);
  }
  if (priority !== undefined && !PRIORITIES.includes(priority as Priority)) {
    throw expected('options.priority', `one of ${PRIORITIES.map((p) => `'${p}'`).join(', ')}`, priority);
  }
  if (vramGb !== undefined && (typeof vramGb !== 'number' || !Number.isFinite(vramGb) || vramGb <= 0)) {
    throw expected('options.vramGb', 'a finite number of GB > 0', vramGb);
  }
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 512)) {
    throw expected('options.key', 'a non-empty string of at most 512 characters', key);
  }
  if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && (timeoutMs as number) > 0)) {
    throw expected('options.timeoutMs', 'a positive integer number of milliseconds', timeoutMs);
  }
  if (estimatedTokens !== undefined && !(Number.isSafeInteger(estimatedTokens) && (estimatedTokens as number) > 0)) {
    throw expected('options.estimatedTokens', 'a positive integer', estimatedTokens);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw expected('options.signal', 'an AbortSignal', signal);
  return {
    priority: priority as Priority | undefined,
    vramGb: vramGb as number | undefined,
    key: key as string | undefined,
    timeoutMs: timeoutMs as number | undefined,
    signal: signal as AbortSignal | undefined,
    estimatedTokens: estimatedTokens as number | undefined,
  };
}

export interface CheckedSubmit {
  priority: Priority;
  /** This task's own need in GB (an override, or its budget plus its KV cache), when it has one. */
  vramGb: number | undefined;
  /** The per-task need in MiB; 0 = the type's budget. */
  vramMiB: number;
  key: string | undefined;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

/** Everything about a submit that can be wrong before it touches the store, in the order a caller fixes it. */
export function checkSubmit(
  types: ReadonlyMap<string, ResolvedType>,
  largestDeviceMiB: number,
  type: string,
  payload: unknown,
  options: unknown,
): CheckedSubmit {
  const taskType = types.get(type);
  if (!taskType) throw new UnknownTypeError(type, [...types.keys()]);
  const { priority = 'normal', vramGb: override, key, timeoutMs, signal, estimatedTokens } = validateSubmitOptions(options);
  signal?.throwIfAborted();
  try {
    checkSendable(payload);
  } catch (error) {
    throw new InvalidPayloadError(type, error);
  }
  const kvGb = taskType.gpu && estimatedTokens !== undefined ? (estimatedTokens / 1000) * taskType.kvGbPer1kTokens : 0;
  const vramGb = kvGb > 0 ? (override ?? (taskType.budgetGb ?? 0)) + kvGb : override;
  const vramMiB = vramGb === undefined ? 0 : gbToMiB(vramGb);
  const needMiB = taskType.gpu ? batchNeedMiB(taskType, vramMiB) : 0;
  if (needMiB > largestDeviceMiB) throw new BudgetExceedsDevicesError(type, mibToGb(needMiB), mibToGb(largestDeviceMiB), taskType.threads);
  return { priority, vramGb, vramMiB, key, timeoutMs, signal };
}
