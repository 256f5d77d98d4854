/** Per-submit options, validated at the call. */
import { expected } from './errors.js';
import { PRIORITIES, type Priority } from './task.js';

export interface SubmitOptions {
  /** Served most urgent first; FIFO within a priority. @default 'normal' */
  priority?: Priority;
  /** VRAM this one task needs in GB, overriding its type's budget (the batch grows its lease to cover it). */
  vramGb?: number;
  /** Deduplication key: while a task of the same type with this key is queued or running, submit returns its id with `isNew: false`. */
  key?: string;
}

export interface SubmitReceipt {
  id: string;
  /** false when `key` matched a task that is already queued or running. */
  isNew: boolean;
}

export function validateSubmitOptions(options: unknown): SubmitOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw expected('options', 'an object', options);
  }
  const { priority, vramGb, key, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw expected(`options.${unknown[0]}`, 'absent (valid submit options: priority, vramGb, key)', rest[unknown[0]!]);
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
  return { priority: priority as Priority | undefined, vramGb: vramGb as number | undefined, key: key as string | undefined };
}
