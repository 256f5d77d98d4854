/**
 * Which running batches to preempt for an urgent type that fits nowhere: a pure function beside
 * the dispatch rule. Only batches of preemptible types whose tasks are all of lower priority
 * are candidates; it takes the device that needs the fewest victims, lowest priority first.
 */
import type { DeviceState } from './rule.js';

/** A live batch, as preemption sees it. */
export interface RunningBatch {
  type: string;
  device: number;
  mib: number;
  /** Most urgent priority rank among the tasks it started (0 = critical). */
  rank: number;
  preemptible: boolean;
  /** Already ending (preempted, yielding…): its lease is on the way back. */
  ending: boolean;
}

export interface Urgent {
  type: string;
  /** Priority rank of its head task as submitted (aging does not count): 0 critical, 1 high. */
  rank: number;
  needMiB: number;
}

/** Ranks that may preempt: critical and high. */
export const PREEMPTING_RANK = 1;

/**
 * The batches to stop so `urgent` fits, or [] when none may be stopped, or when room is already
 * on its way back (batches ending on a device that will then hold it): never preempt twice for one need.
 */
export function choosePreemption(urgent: Urgent, running: readonly RunningBatch[], devices: readonly DeviceState[]): RunningBatch[] {
  if (urgent.rank > PREEMPTING_RANK) return [];
  let best: RunningBatch[] | undefined;
  for (let device = 0; device < devices.length; device++) {
    const { capacityMiB, reservedMiB } = devices[device]!;
    if (capacityMiB < urgent.needMiB) continue;
    const here = running.filter((b) => b.device === device);
    let room = capacityMiB - reservedMiB + here.filter((b) => b.ending).reduce((sum, b) => sum + b.mib, 0);
    if (room >= urgent.needMiB) return [];
    const victims: RunningBatch[] = [];
    const candidates = here
      .filter((b) => b.preemptible && !b.ending && b.rank > urgent.rank && b.type !== urgent.type)
      .sort((a, b) => b.rank - a.rank || b.mib - a.mib);
    for (const batch of candidates) {
      if (room >= urgent.needMiB) break;
      victims.push(batch);
      room += batch.mib;
    }
    if (room >= urgent.needMiB && (!best || victims.length < best.length)) best = victims;
  }
  return best ?? [];
}
