/**
 * What a batch of a GPU type holds: each of its threads loads its own copy of the model and runs
 * `concurrency` tasks that share it. One definition, for fit, for leases and for refusing what no
 * device holds.
 */
import type { ResolvedType } from '../config.js';


/**
 * VRAM (MiB) a batch of `type` reserves to run a task that needs `ownMiB` (0: the type's budget):
 * the larger of the two, once per thread. A thread's tasks share its lease share, as they share
 * its model; with several threads any of them may take the larger task, so each gets room for it.
 */
export const batchNeedMiB = (type: Pick<ResolvedType, 'vramMiB' | 'threads'>, ownMiB: number): number => type.threads * Math.max(type.vramMiB, ownMiB);

/** Tasks a batch of `type` runs at once: `concurrency` in each of its threads. */
export const batchSeats = (type: Pick<ResolvedType, 'threads' | 'concurrency'>): number => type.threads * type.concurrency;
