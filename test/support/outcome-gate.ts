/** The test side of test/fixtures/gated-outcome-handler.mjs: see which tasks started, end each one as the test chooses. */
import { BroadcastChannel } from 'node:worker_threads';
import type { Started } from './gate.js';

export type Outcome = 'succeed' | 'throw' | 'exit';

/** The same start message as gated-handler.mjs sends (gated-outcome-handler.mjs fills `resumeFrom` too). */
export type GateStart = Started;

export class OutcomeGate {
  private readonly channel = new BroadcastChannel('vram-scheduler-test-outcome-gate');
  readonly started: GateStart[] = [];
  /** Called for every start, in arrival order, before any waiter wakes. */
  onStart: ((start: GateStart) => void) | undefined;
  private listeners: (() => void)[] = [];
  private auto: Outcome | undefined;

  constructor() {
    this.channel.onmessage = (message) => {
      const data = (message as { data: GateStart }).data;
      if (data.started === undefined) return;
      this.started.push(data);
      this.onStart?.(data);
      if (this.auto !== undefined) this.release(data.started, this.auto);
      for (const listener of this.listeners.splice(0)) listener();
    };
  }

  /** Resolves at the next start message. */
  nextStart(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  release(tag: string, outcome: Outcome = 'succeed'): void {
    this.channel.postMessage({ release: tag, outcome });
  }

  /** From now on every task that starts is released at once with `outcome` (those already held are not: release them). */
  autoRelease(outcome: Outcome = 'succeed'): void {
    this.auto = outcome;
  }

  close(): void {
    this.onStart = undefined;
    this.channel.close();
  }
}
