/** A point-in-time view of the scheduler, for dashboards, logs and tests. */
import type { AnyActorRef } from 'xstate';
import type { TaskQueues } from './dispatch/queues.js';
import type { Device } from './gpu/detect.js';
import type { ObservedVram, VramObservations } from './gpu/observed.js';
import type { BatchContext } from './machines/batch.js';
import type { Priority } from './task.js';
import type { VramLedger } from './threads/vram-ledger.js';
import { mibToGb } from './units.js';

export interface SchedulerSnapshot {
  /** The supervisor's state: 'idle' | 'dispatching' | 'draining' | 'stopped'. */
  state: string;
  /**
   * `vramGb` is Infinity for the unlimited device used when no GPU is found. `externalGb`: VRAM
   * the GPU monitor saw used outside the scheduler, not offered to tasks.
   */
  devices: { id: string; vramGb: number; reservedGb: number; externalGb: number }[];
  /** Queued tasks per configured type. */
  queues: Record<string, number>;
  /** Queued tasks per configured type, split by the priority they were submitted with. */
  queuedByPriority: Record<string, Record<Priority, number>>;
  /** Live batches: `running` tasks now, `tasks` started so far, `state` of the batch machine. */
  batches: { type: string; device: string; vramGb: number; running: number; tasks: number; state: string }[];
  /** Per type the GPU monitor has seen run alone on a device: its real peak use against its lease. */
  observed: Record<string, ObservedVram>;
}

export interface SnapshotSources {
  supervisor: { value: unknown; children: Record<string, AnyActorRef | undefined> };
  devices: readonly Device[];
  ledger: VramLedger;
  queues: TaskQueues;
  typeNames: Iterable<string>;
  observations: VramObservations;
}

export function takeSnapshot({ supervisor, devices, ledger, queues, typeNames, observations }: SnapshotSources): SchedulerSnapshot {
  const depths: Record<string, number> = {};
  const byPriority: Record<string, Record<Priority, number>> = {};
  for (const name of typeNames) {
    depths[name] = queues.depth(name);
    byPriority[name] = queues.depthByPriority(name);
  }
  return {
    state: String(supervisor.value),
    devices: devices.map((d) => ({
      id: d.id,
      vramGb: d.unlimited ? Number.POSITIVE_INFINITY : mibToGb(d.capacityMiB),
      reservedGb: mibToGb(ledger.reserved(d.index)),
      externalGb: mibToGb(ledger.external(d.index)),
    })),
    queues: depths,
    queuedByPriority: byPriority,
    batches: liveBatches(supervisor),
    observed: observations.all(),
  };
}

/** The snapshot's `batches` alone, for callers that need no more (the safety policy on every submit, the GPU monitor's polls). */
export function liveBatches(supervisor: SnapshotSources['supervisor']): SchedulerSnapshot['batches'] {
  return Object.values(supervisor.children).map((child) => {
    const batch = child!.getSnapshot() as { value: unknown; context: BatchContext };
    const { type, device, tally } = batch.context;
    return { type, device: device.id, vramGb: mibToGb(tally.leaseMiB), running: tally.inFlight, tasks: tally.started, state: String(batch.value) };
  });
}
