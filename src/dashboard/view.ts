/** What the page draws, built from a scheduler snapshot: plain JSON (no Infinity), grouped the way the page shows it. */
import type { SchedulerSnapshot } from '../snapshot.js';
import { PRIORITIES, type Priority } from '../task.js';
import type { FailureView } from './recent-failures.js';

export interface DashboardView {
  /** The supervisor's state. */
  state: string;
  /** Epoch ms the view was taken. */
  at: number;
  devices: {
    id: string;
    /** null for the unlimited device used when no GPU is found. */
    capacityGb: number | null;
    reservedGb: number;
    batches: SchedulerSnapshot['batches'];
  }[];
  queues: { type: string; total: number; byPriority: Record<Priority, number> }[];
  /** Newest first. */
  failures: FailureView[];
  /** Tasks that ended since the dashboard started. */
  ended: { succeeded: number; failed: number; cancelled: number };
}

export function buildView(snapshot: SchedulerSnapshot, failures: FailureView[], ended: DashboardView['ended'], at: number): DashboardView {
  const empty = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
  return {
    state: snapshot.state,
    at,
    devices: snapshot.devices.map((d) => ({
      id: d.id,
      capacityGb: Number.isFinite(d.vramGb) ? d.vramGb : null,
      reservedGb: d.reservedGb,
      batches: snapshot.batches.filter((b) => b.device === d.id),
    })),
    queues: Object.entries(snapshot.queues).map(([type, total]) => ({ type, total, byPriority: snapshot.queuedByPriority[type] ?? empty })),
    failures,
    ended: { ...ended },
  };
}
