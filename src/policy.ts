/** The admission policies' checks, as plain functions over the scheduler's state. */
import type { ResolvedType } from './config.js';
import { batchSeats } from './dispatch/batch-need.js';
import type { TaskQueues } from './dispatch/queues.js';
import { InsufficientResourcesError } from './errors.js';
import type { SchedulerSnapshot } from './snapshot.js';
import type { QueueEntry } from './task.js';
import { gbToMiB, hasFreeRam, mibToGb } from './units.js';

/**
 * The 'safety' policy: throws InsufficientResourcesError unless a task of `type` needing
 * `needMiB` could start now: its RAM is free, and its type's batch can take it (warm, or
 * running with room and a large enough lease) or some device has the VRAM free.
 */
export function refuseUnlessStartable(type: ResolvedType, needMiB: number, batches: SchedulerSnapshot['batches'], freeMiB: readonly number[]): void {
  if (!hasFreeRam(type.ramGb)) throw new InsufficientResourcesError(type.name, `it needs ${type.ramGb} GB of free system memory`);
  if (!type.gpu) return;
  const batch = batches.find((b) => b.type === type.name);
  const joins = batch !== undefined && gbToMiB(batch.vramGb) >= needMiB && (batch.state === 'warm' || (batch.state === 'running' && batch.running < batchSeats(type)));
  if (!joins && !freeMiB.some((free) => free >= needMiB)) throw new InsufficientResourcesError(type.name, `no device has ${mibToGb(needMiB)} GB of VRAM free`);
}

/** The 'queue' policy's maxWaitMs: the queued tasks that have waited that long. */
export function overdue(queues: TaskQueues, types: Iterable<string>, maxWaitMs: number, now: number): QueueEntry[] {
  const late: QueueEntry[] = [];
  for (const type of types) for (const entry of queues.entries(type)) if (now - entry.queuedAt >= maxWaitMs) late.push(entry);
  return late;
}
