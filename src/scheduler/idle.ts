/** drain(): waits until nothing is queued, being written, running or being committed. */
import type { Actor } from 'xstate';
import type { SupervisorMachine } from '../machines/supervisor.js';

export class Idle {
  /** Task outcomes written but not yet committed. */
  private committing = 0;
  private drainWaiters: (() => void)[] = [];

  /** `quiet`: whether everything else drain() waits for has settled (batches, lanes, submits, queues). */
  constructor(private readonly quiet: () => boolean) {}

  /** Resolves when nothing is queued or running and every batch has returned its VRAM. */
  drain(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.check();
    });
  }

  /** A state change being committed in the background: drain() and close() wait for it. */
  track(committing: Promise<void>): void {
    this.committing++;
    void committing.then(this.committed, this.committed);
  }

  /** One callback for every tracked commit (a closure and a `finally` per task cost more than the count). */
  private readonly committed = (): void => {
    this.committing--;
    this.check();
  };

  /** Something drain() waits for may have ended: resolve the waiters if all has. */
  check(): void {
    if (this.drainWaiters.length === 0 || this.committing > 0 || !this.quiet()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Batches running or finishing tasks: warm ones hold a model but do no work. */
export function busyBatches(supervisor: Actor<SupervisorMachine>): number {
  let busy = 0;
  for (const child of Object.values(supervisor.getSnapshot().children)) {
    const batch = child?.getSnapshot();
    // An ended batch stays among the children until the supervisor's transition completes.
    if (batch?.status === 'active' && batch.value !== 'warm') busy++;
  }
  return busy;
}
