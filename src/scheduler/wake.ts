/** Waking the dispatchers: every change of one turn becomes a single supervisor event. */
import type { Actor } from 'xstate';
import type { FreeLane } from '../dispatch/free-lane.js';
import type { SupervisorMachine } from '../machines/supervisor.js';

export interface WakeDeps {
  supervisor: Actor<SupervisorMachine>;
  freeLane: FreeLane;
  closing(): boolean;
}

export class Wake {
  private scheduled = false;
  /** Whether the pending wake has news for the supervisor (GPU work), not only for the free lane. */
  private supervisorToo = false;

  constructor(private readonly deps: WakeDeps) {}

  /** Coalesces every change of one turn into a single supervisor event; free-lane work alone needs none. */
  request(supervisor = true): void {
    this.supervisorToo ||= supervisor;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.deps.closing()) return;
      if (this.supervisorToo) {
        this.supervisorToo = false;
        this.deps.supervisor.send({ type: 'WAKE' });
      }
      this.deps.freeLane.pump();
    });
  }
}
