/**
 * Naive serial: one task at a time across the whole cluster, in arrival order (priorities
 * ignored). The loaded model stays loaded while the next task is of the same type (generous to
 * it); a different type unloads it and loads its own on the device where it fits best.
 */
import { bestFit } from '../../../dist/dispatch/rule.js';
import type { SimContext, Strategy } from '../context.js';
import type { TaskSpec, TypeSpec } from '../model.js';

export class SerialStrategy implements Strategy {
  private readonly queue: TaskSpec[] = [];
  private head = 0;
  private busy = false;
  private loaded: { spec: TypeSpec; lease: number } | undefined;

  constructor(private readonly ctx: SimContext) {}

  arrive(task: TaskSpec): void {
    this.queue.push(task);
    if (!this.busy) this.next();
  }

  private next(): void {
    const task = this.queue[this.head];
    if (!task) return;
    this.queue[this.head++] = undefined as unknown as TaskSpec;
    this.busy = true;
    const { loop, recorder } = this.ctx;
    recorder.started(task, loop.now);
    if (this.loaded?.spec.name === task.type) {
      this.runTask(task);
      return;
    }
    const switchModel = () => {
      const spec = this.ctx.types.get(task.type)!;
      const free = this.ctx.ledger.capacity.map((_, i) => this.ctx.ledger.free(i));
      const lease = this.ctx.ledger.reserve(bestFit(free, spec.vramMiB), spec.vramMiB);
      this.loaded = { spec, lease };
      recorder.modelLoaded();
      recorder.busy(spec.vramMiB);
      loop.after(spec.loadMs, () => {
        recorder.busy(-spec.vramMiB);
        this.runTask(task);
      });
    };
    const previous = this.loaded;
    if (!previous) return switchModel();
    loop.after(previous.spec.unloadMs, () => {
      this.ctx.ledger.release(previous.lease);
      switchModel();
    });
  }

  private runTask(task: TaskSpec): void {
    const { loop, recorder } = this.ctx;
    const mib = this.loaded!.spec.vramMiB;
    recorder.busy(mib);
    loop.after(task.durationMs, () => {
      recorder.busy(-mib);
      recorder.finished(task, loop.now);
      this.busy = false;
      this.next();
    });
  }
}
