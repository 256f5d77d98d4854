/**
 * FIFO first-fit without batching: every task gets its own model instance. Tasks are considered
 * in arrival order (priorities ignored) and each one that fits starts on the first device
 * (lowest index) with room for its type's budget: it loads the model, runs, unloads, and returns
 * the lease. Later tasks may pass an earlier one that does not fit yet (backfilling).
 *
 * Kept per type: all tasks of a type need the same budget, so once a type's oldest task does not
 * fit, none of its later tasks fits in the same pass (starts only take VRAM). That makes a pass
 * O(starts × types) instead of O(pending), with the same starts as scanning one global FIFO.
 */
import type { SimContext, Strategy } from '../context.js';
import type { TaskSpec } from '../model.js';

export class FirstFitStrategy implements Strategy {
  /** Per type, its pending tasks in arrival order, consumed from `head`. */
  private readonly pending = new Map<string, { tasks: TaskSpec[]; head: number; mib: number }>();

  constructor(private readonly ctx: SimContext) {
    for (const spec of ctx.types.values()) this.pending.set(spec.name, { tasks: [], head: 0, mib: spec.vramMiB });
  }

  arrive(task: TaskSpec): void {
    this.pending.get(task.type)!.tasks.push(task);
    this.startWhatFits();
  }

  private startWhatFits(): void {
    const { ledger } = this.ctx;
    const blocked = new Set<string>();
    for (;;) {
      // The oldest pending task among the types not yet found not to fit in this pass.
      let oldest: { type: string; task: TaskSpec; mib: number } | undefined;
      for (const [type, queue] of this.pending) {
        const task = queue.tasks[queue.head];
        if (task && !blocked.has(type) && (!oldest || task.id < oldest.task.id)) oldest = { type, task, mib: queue.mib };
      }
      if (!oldest) return;
      const device = ledger.capacity.findIndex((_, d) => ledger.free(d) >= oldest.mib);
      if (device === -1) {
        blocked.add(oldest.type);
        continue;
      }
      this.pending.get(oldest.type)!.head++;
      this.start(oldest.task, device, oldest.mib);
    }
  }

  private start(task: TaskSpec, device: number, mib: number): void {
    const { loop, ledger, recorder, types } = this.ctx;
    const spec = types.get(task.type)!;
    const lease = ledger.reserve(device, mib);
    recorder.started(task, loop.now);
    recorder.modelLoaded();
    recorder.busy(mib);
    loop.after(spec.loadMs + task.durationMs, () => {
      recorder.busy(-mib);
      recorder.finished(task, loop.now);
      loop.after(spec.unloadMs, () => {
        ledger.release(lease);
        this.startWhatFits();
      });
    });
  }
}
