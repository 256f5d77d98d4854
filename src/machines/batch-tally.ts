/**
 * A batch's tally: its tasks in flight and started, the size of its lease, its most urgent task,
 * when its model was ready and how long it took to load. A plain object the batch machine holds,
 * as the queues are: a task that starts or ends changes it in place and the next queued task is
 * taken at once, without an event; the machine hears only of what moves it (nothing left in
 * flight, or a reason to end). Under load that keeps XState's cost per event (a macrostep, a
 * snapshot and their allocations) off the path of every task, as DESIGN.md asks of the machines.
 */
import type { AnyActorRef } from 'xstate';
import type { TaskRan } from '../actors/run-task.js';
import { batchNeedMiB } from '../dispatch/batch-need.js';
import { quantumSpent } from '../dispatch/quantum.js';
import { PRIORITY_RANK, type QueueEntry } from '../task.js';
import type { BatchDeps, BatchEndReason, BatchInput } from './batch.js';

export class BatchTally {
  /** Tasks claimed or running (seats taken by submits included), until their threads are free again. */
  inFlight = 0;
  /** Tasks this batch has started. */
  started = 0;
  /** What the lease holds now: the budget, or more while a task that needs more runs. */
  leaseMiB: number;
  /** Most urgent priority rank among the tasks it started (0 = critical): preemption spares batches as urgent as the waiting task. */
  bestRank = Number.POSITIVE_INFINITY;
  /** Epoch ms its worker first answered a task: the model was loaded by then, so the quantum counts from here. */
  readySince: number | undefined;
  /** How long its model took to load (0 until a task reports it): a slow load lengthens the quantum. */
  loadMs = 0;
  /** Set once the batch takes no more tasks; it then finishes what is in flight. */
  ending: Exclude<BatchEndReason, 'drained'> | undefined;
  /** Outcomes of its ended tasks still being committed: the batch goes warm or ends only after them, so its tasks' events come before its own. */
  recording = 0;

  constructor(
    private readonly deps: BatchDeps,
    private readonly input: BatchInput,
    private readonly batch: AnyActorRef,
  ) {
    this.leaseMiB = input.leaseMiB;
  }

  /** The lease this batch needs to run a task needing `ownMiB` (0: the budget). */
  leaseFor(ownMiB: number): number {
    return batchNeedMiB(this.input, ownMiB);
  }

  /** Whether the batch yields now: its quantum is spent and another type waits for its device's VRAM. */
  yieldsTurn(nowMs: number): boolean {
    const { quantumMs, type, device } = this.input;
    return this.started > 0 && quantumSpent(nowMs, quantumMs, this.readySince, this.loadMs) && this.deps.othersWaitFor(type, device.index);
  }

  /**
   * Takes queued tasks while there is room, counting them in flight, and returns them for `run`;
   * grows the lease for a task that needs more, or sets `ending` when it cannot or the quantum is
   * spent. Apart from `run` so that the machine counts them as it transitions and starts them after.
   */
  take(): QueueEntry[] {
    const { deps, input } = this;
    const limit = deps.inFlightLimit(input.type);
    const taken: QueueEntry[] = [];
    while (this.inFlight < limit) {
      const entry = deps.queues.peek(input.type);
      if (!entry) break;
      if (this.yieldsTurn(Date.now())) {
        this.ending = 'yielded';
        break;
      }
      const needMiB = this.leaseFor(entry.vramMiB);
      if (needMiB > this.leaseMiB) {
        if (!deps.ledger.resize(input.lease, needMiB)) {
          this.ending = 'blocked';
          break;
        }
        this.leaseMiB = needMiB;
      }
      deps.queues.take(entry);
      this.seatTaken(PRIORITY_RANK[entry.priority]);
      taken.push(entry);
    }
    return taken;
  }

  /** Starts the tasks `take` returned; each reports to `taskEnded` once its thread is free again. */
  run(taken: readonly QueueEntry[]): void {
    for (const entry of taken) void this.deps.runTask({ entry, device: this.input.device }).then(this.taskEnded, () => this.taskEnded({ replied: false }));
  }

  /** A task starts in this batch (taken by `take`, or stored as running by a submit): it counts as in flight until its thread is free again. */
  seatTaken(rank: number): void {
    this.inFlight++;
    this.started++;
    this.bestRank = Math.min(this.bestRank, rank);
  }

  /** A submit's seat came back (its insert failed): its task never started. */
  seatReturned(): void {
    this.started--;
    this.freed({ replied: false });
  }

  /**
   * A task's thread is free again. A running batch takes the next queued task at once; the machine
   * hears of it only when that leaves nothing in flight (it goes warm or unloads) or the batch is
   * ending (it moves to finishing, or on once its last task is done).
   */
  readonly taskEnded = (ran: TaskRan): void => {
    this.freed(ran);
    const running = this.batch.getSnapshot().value === 'running';
    if (running && this.ending === undefined) this.run(this.take());
    if (this.settled || this.ending !== undefined) this.batch.send({ type: 'TASKS_DONE' });
  };

  /** Nothing in flight, and every outcome committed. */
  get settled(): boolean {
    return this.inFlight === 0 && this.recording === 0;
  }

  /** One seat less; once none is in flight, the lease goes back to the budget. */
  private freed(ran: TaskRan): void {
    this.inFlight--;
    if (ran.recorded) {
      this.recording++;
      void ran.recorded.finally(() => {
        this.recording--;
        if (this.settled) this.batch.send({ type: 'TASKS_DONE' });
      });
    }
    // Only a task its worker answered proves the model loaded: the quantum counts from there.
    if (ran.replied) this.readySince ??= Date.now();
    if (ran.loadMs !== undefined && ran.loadMs > this.loadMs) this.loadMs = ran.loadMs;
    const budgetMiB = this.leaseFor(0);
    if (this.inFlight === 0 && this.leaseMiB > budgetMiB) {
      this.deps.ledger.resize(this.input.lease, budgetMiB);
      this.leaseMiB = budgetMiB;
    }
  }
}
