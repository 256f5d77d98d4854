/**
 * The library's own scheduling, simulated: the supervisor's dispatch step and the batch
 * machine's lifecycle, driving the real dispatch rule (`decide()`), the real per-type queues
 * (`TaskQueues`, which compute aged ranks) and the real quantum checks (`quantumSpent`,
 * `othersWaitFor`) from the built package, the same modules the supervisor imports.
 *
 * Mirrored from src/machines/supervisor.ts and src/machines/batch.ts:
 * - every arrival and every ended batch wakes the supervisor, which runs one dispatch: tasks
 *   for a type with a batch go to that batch (TASKS_AVAILABLE); types without one are ranked
 *   by decide(), which starts batches (a lease of the type's budget), evicts idle warm batches
 *   (least recently used) or holds the line for a starved top-ranked type;
 * - while types wait for VRAM the supervisor looks again every tick (half the shortest of
 *   aging / starvation / quantum, clamped to 10 ms … 1 s), re-armed on every dispatch;
 * - a batch takes tasks from its type's queue up to `concurrency` at a time; past its quantum
 *   it ends at a task boundary when another type waits for VRAM its device could give; with an
 *   empty queue it goes warm for keepAliveMs (lease held, model loaded), else unloads;
 *   an unload takes unloadMs, then the lease returns and the supervisor dispatches again.
 * Simplified: the model load is paid once per batch by its first tasks (the worker loads lazily
 * on the first run); no per-task VRAM overrides, ramGb, retries, cancels or failures; the
 * XState events that are deferred (sendTo, spawnChild) run right after the dispatch step, in
 * the order the supervisor enqueues them. As in the supervisor, a start the ledger refuses is
 * skipped until the next wake; such refusals are counted.
 */
import { decide, type WaitingType, type WarmBatch } from '../../../dist/dispatch/rule.js';
import { TaskQueues } from '../../../dist/dispatch/queues.js';
import { quantumSpent } from '../../../dist/dispatch/quantum.js';
import { othersWaitFor, tickMs } from '../../../dist/machines/supervisor.js';
import type { SimContext, Strategy } from '../context.js';
import type { TaskSpec, TypeSpec } from '../model.js';

export interface BatchedOptions {
  priorityScheduling: boolean;
  agingMs: number;
  starvationMs: number;
  quantumMs: number;
  /** Overrides every type's keepAliveMs (the reference rule ends a batch when its queue runs dry). */
  keepAliveMs?: number;
}

type BatchState = 'running' | 'warm' | 'finishing' | 'unloading';

class Batch {
  state: BatchState = 'running';
  inFlight = 0;
  started = 0;
  ending: string | undefined;
  idleSince = 0;
  /** When the model is loaded; set by the first task of the batch. */
  modelReadyAt: number | undefined;
  /** When its first task finished: the quantum counts from here, as in the batch machine. */
  readySince: number | undefined;
  /** Bumped on leaving `warm`, so a stale keep-alive timer does nothing. */
  warmGeneration = 0;

  constructor(
    private readonly owner: BatchedStrategy,
    readonly spec: TypeSpec,
    readonly device: number,
    readonly lease: number,
    readonly leaseMiB: number,
  ) {}

  /** Entry of `running`: fill, then the state's `always` transitions. */
  run(): void {
    this.state = 'running';
    this.warmGeneration++;
    this.fill();
    this.settle();
  }

  tasksAvailable(): void {
    // `finishing` and `unloading` ignore it, as the machine does.
    if (this.state === 'warm' || this.state === 'running') this.run();
  }

  evict(): void {
    if (this.state !== 'warm') return;
    this.ending = 'evicted';
    this.unload();
  }

  private fill(): void {
    const { ctx, queues, options } = this.owner;
    const now = ctx.loop.now;
    while (this.inFlight < this.spec.concurrency) {
      const entry = queues.peek(this.spec.name, now);
      if (!entry) break;
      if (this.started > 0 && quantumSpent(now, options.quantumMs, this.readySince, this.spec.loadMs) && othersWaitFor(this.owner.waitingForVram, this.spec.name, ctx.ledger.capacity[this.device]!)) {
        this.ending = 'yielded';
        break;
      }
      queues.take(entry);
      this.startTask(this.owner.task(entry.id));
    }
  }

  private startTask(task: TaskSpec): void {
    const { loop, recorder } = this.owner.ctx;
    if (this.inFlight === 0) recorder.busy(this.leaseMiB);
    this.inFlight++;
    this.started++;
    recorder.started(task, loop.now);
    if (this.modelReadyAt === undefined) {
      this.modelReadyAt = loop.now + this.spec.loadMs;
      recorder.modelLoaded();
    }
    loop.at(Math.max(loop.now, this.modelReadyAt) + task.durationMs, () => this.taskDone(task));
  }

  private taskDone(task: TaskSpec): void {
    const { loop, recorder } = this.owner.ctx;
    recorder.finished(task, loop.now);
    this.readySince ??= loop.now;
    this.inFlight--;
    if (this.inFlight === 0) recorder.busy(-this.leaseMiB);
    if (this.state === 'running') {
      this.fill();
      this.settle();
    } else if (this.state === 'finishing' && this.inFlight === 0) {
      this.unload();
    }
  }

  /** `running`'s always: ending → finishing; idle with keep-alive → warm; idle → unloading. */
  private settle(): void {
    if (this.ending !== undefined) {
      this.state = 'finishing';
      if (this.inFlight === 0) this.unload();
    } else if (this.inFlight === 0 && this.keepAliveMs > 0) {
      this.goWarm();
    } else if (this.inFlight === 0) {
      this.unload();
    }
  }

  private get keepAliveMs(): number {
    return this.owner.options.keepAliveMs ?? this.spec.keepAliveMs;
  }

  private goWarm(): void {
    const { loop } = this.owner.ctx;
    this.state = 'warm';
    this.idleSince = loop.now;
    const generation = ++this.warmGeneration;
    loop.after(this.keepAliveMs, () => {
      if (this.state !== 'warm' || this.warmGeneration !== generation) return;
      this.ending = 'idle';
      this.unload();
    });
  }

  private unload(): void {
    const { loop, ledger } = this.owner.ctx;
    this.state = 'unloading';
    this.warmGeneration++;
    loop.after(this.spec.unloadMs, () => {
      ledger.release(this.lease);
      this.owner.ctx.recorder.batchEnded(this.ending ?? 'drained');
      this.owner.batchEnded(this);
    });
  }
}

export class BatchedStrategy implements Strategy {
  readonly queues: TaskQueues;
  readonly waitingForVram = new Map<string, number>();
  private readonly batches = new Map<string, Batch>();
  private readonly tasks = new Map<string, TaskSpec>();
  /** When each type's last batch ended, and why: the start of its current wait for a turn. */
  private readonly lastBatchEnd = new Map<string, number>();
  private readonly lastEnding = new Map<string, string | undefined>();
  private seq = 0;
  private tickGeneration = 0;
  private readonly tickMs: number;

  constructor(
    readonly ctx: SimContext,
    readonly options: BatchedOptions,
  ) {
    this.queues = new TaskQueues({ priorityScheduling: options.priorityScheduling, agingMs: options.agingMs });
    this.tickMs = tickMs(options);
  }

  arrive(task: TaskSpec): void {
    const id = String(task.id);
    this.tasks.set(id, task);
    this.queues.push({ id, type: task.type, seq: ++this.seq, priority: task.priority, queuedAt: this.ctx.loop.now, vramMiB: 0 });
    this.dispatch();
  }

  task(id: string): TaskSpec {
    const task = this.tasks.get(id)!;
    this.tasks.delete(id);
    return task;
  }

  batchEnded(batch: Batch): void {
    this.batches.delete(batch.spec.name);
    this.lastBatchEnd.set(batch.spec.name, this.ctx.loop.now);
    this.lastEnding.set(batch.spec.name, batch.ending);
    this.dispatch();
  }

  /** The supervisor's `dispatch` action, then the events it enqueued. */
  private dispatch(): void {
    const { loop, ledger, types } = this.ctx;
    const now = loop.now;
    const warm: WarmBatch[] = [];
    for (const [type, batch] of this.batches) {
      if (batch.state === 'warm' && this.queues.depth(type) === 0) warm.push({ type, device: batch.device, mib: batch.leaseMiB, idleSince: batch.idleSince });
    }
    const waiting: WaitingType[] = [];
    const deferred: (() => void)[] = [];
    for (const type of this.queues.waitingTypes()) {
      const batch = this.batches.get(type);
      if (batch) {
        deferred.push(() => batch.tasksAvailable());
        continue;
      }
      const { entry, rank } = this.queues.head(type, now)!;
      const yielded = this.lastEnding.get(type) === 'yielded'; // cleared when the type starts again, as the supervisor's `yielded`
      waiting.push({ type, depth: this.queues.depth(type), rank, headSeq: entry.seq, waitedMs: now - entry.queuedAt, needMiB: types.get(type)!.vramMiB, yielded });
    }
    this.waitingForVram.clear();
    if (waiting.length > 0) {
      const devices = ledger.capacity.map((capacityMiB, i) => ({ capacityMiB, reservedMiB: ledger.reserved[i]! }));
      const starting = new Set<string>();
      for (const decision of decide({ waiting, warm, devices, starvationMs: this.options.starvationMs })) {
        if (decision.kind === 'evict') {
          const victim = this.batches.get(decision.type)!;
          deferred.push(() => victim.evict());
        }
        if (decision.kind === 'hold') this.ctx.recorder.holds++;
        if (decision.kind !== 'start') continue;
        const lease = ledger.tryReserve(decision.device, decision.mib);
        if (lease === -1) {
          // The supervisor skips it too (the next wake retries); counted, because decide() should not propose it.
          this.ctx.recorder.refusedStarts++;
          continue;
        }
        if (this.lastEnding.get(decision.type) === 'yielded' && this.lastBatchEnd.get(decision.type) === now) this.ctx.recorder.yieldsRewon++;
        const waited = waiting.find((w) => w.type === decision.type)!;
        this.ctx.recorder.turnWaited(decision.type, now - Math.max(now - waited.waitedMs, this.lastBatchEnd.get(decision.type) ?? 0));
        this.lastEnding.delete(decision.type);
        const batch = new Batch(this, types.get(decision.type)!, decision.device, lease, decision.mib);
        this.batches.set(decision.type, batch);
        starting.add(decision.type);
        deferred.push(() => batch.run());
      }
      for (const w of waiting) if (!starting.has(w.type)) this.waitingForVram.set(w.type, w.needMiB);
    }
    for (const run of deferred) run();
    this.armTick();
  }

  /**
   * The supervisor's `after: tick` in `idle`: re-armed by every dispatch, fires only while types
   * wait for VRAM. Only dispatch writes waitingForVram, so arming only when it is non-empty
   * changes nothing but the number of idle events.
   */
  private armTick(): void {
    if (this.waitingForVram.size === 0) return;
    const generation = ++this.tickGeneration;
    this.ctx.loop.after(this.tickMs, () => {
      if (generation === this.tickGeneration && this.waitingForVram.size > 0) this.dispatch();
    });
  }
}
