/** The test side of test/fixtures/unload-gated-handler.mjs: which threads ran a task and began unload(); release runs and unloads. */
import { BroadcastChannel } from 'node:worker_threads';

export class UnloadGate {
  private readonly channel = new BroadcastChannel('vram-scheduler-test-unload');
  /** The thread of each task that started, in order. */
  readonly ran: number[] = [];
  /** Each thread whose unload() began, in order. */
  readonly unloading: number[] = [];

  constructor() {
    this.channel.onmessage = (event) => {
      const data = (event as { data: { ran?: string; unloading?: number; thread?: number } }).data;
      if (data.ran !== undefined) this.ran.push(data.thread!);
      if (data.unloading !== undefined) this.unloading.push(data.unloading);
    };
  }

  /** Ends every run, now and later. */
  releaseRuns(): void {
    this.channel.postMessage({ release: 'run' });
  }

  /** Ends the unload of `thread`, or every unload (now and later) without one. */
  releaseUnload(thread?: number): void {
    this.channel.postMessage(thread === undefined ? { release: 'unload' } : { release: 'unload', thread });
  }

  /** Releases everything still held and stops listening. */
  close(): void {
    this.releaseRuns();
    this.releaseUnload();
    this.channel.close();
  }
}
