/**
 * The options that shape dispatch order: priorities, aging, the head-of-line hold and the
 * batch quantum. Validated here, used by the queues, the dispatch rule and the batches.
 */
import { expected } from './errors.js';

export interface SchedulingOptions {
  /**
   * `false` ignores priorities: tasks start in acknowledgement order within a type.
   * @default true
   */
  priorityScheduling?: boolean;
  /**
   * A task waiting this long counts one priority higher, and one more per further interval
   * (past critical too), so every wait is bounded. 0 turns aging off.
   * @default 60000
   */
  agingMs?: number;
  /**
   * Once the top-ranked type has waited this long for VRAM that is taken, no lower-ranked type
   * may start on a device it could use (no starvation of a large model by a stream of small
   * ones). 0 turns the hold off.
   * @default 120000
   */
  starvationMs?: number;
  /**
   * A batch that has run this long ends at its next task boundary when another type waits for
   * VRAM, instead of running until its queue is empty. It counts from the batch's first finished
   * task, and lasts at least 19× its model's load time. 0 turns the quantum off.
   * @default 60000
   */
  quantumMs?: number;
  /**
   * How long a cancelled or timed-out task's handler has to settle after `ctx.signal` aborts,
   * before its worker thread is terminated.
   * @default 5000
   */
  cancelGraceMs?: number;
  /**
   * Admission: `'queue'` waits for VRAM (and RAM); `'safety'` refuses at submit with
   * `INSUFFICIENT_RESOURCES` a task that cannot start now; `'permissive'` does no VRAM checks
   * at all (every device unlimited: for development).
   * @default 'queue'
   */
  policy?: 'queue' | 'safety' | 'permissive';
  /**
   * With the `'queue'` policy, a task still queued after this long fails with `WAIT_TIMEOUT`.
   * 0 waits forever.
   * @default 0
   */
  maxWaitMs?: number;
  /**
   * A critical or high task whose type cannot fit may preempt running batches of lower
   * priority whose type is `preemptible`: their handlers see `ctx.signal` abort with reason
   * 'preempted', may save `ctx.checkpoint(state)`, and go back to their place in line.
   * @default false
   */
  preemption?: boolean;
}

export type Scheduling = Required<SchedulingOptions>;

export const SCHEDULING_KEYS = ['priorityScheduling', 'agingMs', 'starvationMs', 'quantumMs', 'cancelGraceMs', 'policy', 'maxWaitMs', 'preemption'] as const;
const POLICIES = ['queue', 'safety', 'permissive'] as const;

export const DEFAULT_SCHEDULING: Scheduling = { priorityScheduling: true, agingMs: 60_000, starvationMs: 120_000, quantumMs: 60_000, cancelGraceMs: 5_000, policy: 'queue', maxWaitMs: 0, preemption: false };

export function readScheduling(options: Record<string, unknown>): Scheduling {
  const { priorityScheduling = DEFAULT_SCHEDULING.priorityScheduling } = options;
  if (typeof priorityScheduling !== 'boolean') throw expected('options.priorityScheduling', 'a boolean', priorityScheduling);
  const { preemption = DEFAULT_SCHEDULING.preemption } = options;
  if (typeof preemption !== 'boolean') throw expected('options.preemption', 'a boolean', preemption);
  const ms = (key: 'agingMs' | 'starvationMs' | 'quantumMs' | 'cancelGraceMs' | 'maxWaitMs'): number => {
    const value = options[key] ?? DEFAULT_SCHEDULING[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw expected(`options.${key}`, 'an integer number of milliseconds >= 0 (0 turns it off)', value);
    }
    return value;
  };
  const { policy = DEFAULT_SCHEDULING.policy } = options;
  if (!POLICIES.includes(policy as Scheduling['policy'])) throw expected('options.policy', `one of ${POLICIES.map((p) => `'${p}'`).join(', ')}`, policy);
  return {
    priorityScheduling,
    agingMs: ms('agingMs'),
    starvationMs: ms('starvationMs'),
    quantumMs: ms('quantumMs'),
    cancelGraceMs: ms('cancelGraceMs'),
    policy: policy as Scheduling['policy'],
    maxWaitMs: ms('maxWaitMs'),
    preemption,
  };
}
