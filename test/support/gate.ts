/** The test side of test/fixtures/gated-handler.mjs: see which tasks started, release them. */
import { afterEach } from 'vitest';
import { closeAll } from './scheduler.js';
import { BroadcastChannel } from 'node:worker_threads';

export interface Started {
  started: string;
  type: string;
  device: string | null;
  thread: number;
  /** Whether ctx.vram.tryGrow(payload.growGb) succeeded; undefined when the payload asked for none. */
  grew?: boolean;
  /** ctx.resumeFrom: the checkpoint of the task's last preempted run, or null on a first run. */
  resumeFrom?: unknown;
}

export class Gate {
  private readonly channel = new BroadcastChannel('vram-scheduler-test-gate');
  readonly started: Started[] = [];
  private listeners: (() => void)[] = [];
  /** After releaseAll(), tasks started later (in threads that did not exist yet) are released too. */
  private releasing = false;

  constructor() {
    this.channel.onmessage = (message) => {
      const data = (message as { data: Started }).data;
      if (data.started === undefined) return;
      this.started.push(data);
      if (this.releasing) this.release(data.started);
      for (const listener of this.listeners.splice(0)) listener();
    };
  }

  /** Resolves once `count` tasks in total have started. */
  async waitForStarted(count: number): Promise<Started[]> {
    while (this.started.length < count) await new Promise<void>((resolve) => this.listeners.push(resolve));
    return this.started.slice(0, count);
  }

  release(tag: string): void {
    this.channel.postMessage({ release: tag });
  }

  releaseAll(): void {
    this.releasing = true;
    this.channel.postMessage({ release: '*' });
  }

  close(): void {
    this.channel.close();
  }
}

/**
 * A fresh Gate per test: call the returned function inside a test to open one. After each test
 * the gate releases everything, the test's schedulers close, then the gate closes.
 */
export function gatePerTest(): () => Gate {
  let gate: Gate | undefined;
  afterEach(async () => {
    gate?.releaseAll();
    await closeAll();
    gate?.close();
    gate = undefined;
  });
  return () => (gate = new Gate());
}
