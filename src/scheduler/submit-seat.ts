/**
 * A seat for a task being submitted: when its lane would start it the moment it were queued,
 * the submit stores it as running in the same commit as its insert, so it starts after one
 * commit instead of two (the insert, then the "running" mark). The free lane has a seat when a
 * thread is free and no free-lane task waits; a GPU type when its batch runs or is warm with a
 * thread seat free, its lease covers the task and nothing of the type is queued ahead of it.
 * The seat counts as in flight from here, so the batch neither ends nor goes warm meanwhile. A
 * preemption that comes while the insert commits finds no task to stop (its stop control begins
 * when it runs), so `adopt` stops it then: it goes back in line. A stop (close()) lets it run, as
 * it lets every running task finish.
 */
import type { Actor, AnyActorRef } from 'xstate';
import type { TaskRan } from '../actors/run-task.js';
import type { FreeLane } from '../dispatch/free-lane.js';
import type { TaskQueues } from '../dispatch/queues.js';
import type { Device } from '../gpu/detect.js';
import { seatFree, type BatchContext } from '../machines/batch.js';
import type { SupervisorMachine } from '../machines/supervisor.js';
import { PRIORITY_RANK, type QueueEntry } from '../task.js';

export interface SubmitSeat {
  /** The device the task runs on (a GPU type's batch device). */
  device: Device | undefined;
  /** The task, stored as running, runs: its lane counts it until it settles. */
  adopt(running: Promise<TaskRan>): void;
  /** Its insert failed: the seat is free again. */
  giveBack(): void;
}

export interface SubmitSeatDeps {
  queues: TaskQueues;
  freeLane: FreeLane;
  freeLaneThreads: number;
  supervisor: Actor<SupervisorMachine>;
  isGpu(type: string): boolean;
  /** Asks a running task to stop for preemption (it goes back in line). */
  preempt(id: string): void;
  /** Tasks a batch of `type` may hold claimed or running at once. */
  inFlightLimit(type: string): number;
}

type BatchState = { status: string; value: unknown; context: BatchContext };

/** The live batch of a GPU type, with its state, if there is one. */
function batchOf(deps: SubmitSeatDeps, type: string): { batch: AnyActorRef; state: BatchState } | undefined {
  const supervisor = deps.supervisor.getSnapshot();
  const id = supervisor.context.batches[type];
  const batch: AnyActorRef | undefined = id === undefined ? undefined : supervisor.children[id];
  const state = batch?.getSnapshot() as BatchState | undefined;
  return batch && state?.status === 'active' ? { batch, state } : undefined;
}

/**
 * Whether a task of `type` just queued will be taken by its type's batch without a wake: the
 * batch runs, is not ending, and holds as many tasks as it may, so it takes the next queued one
 * when one of them ends. Under load most submits find it so, and a wake would cost the
 * supervisor's dispatch and the batch's fill an event each for nothing.
 */
export function batchTakesLater(deps: SubmitSeatDeps, type: string): boolean {
  const found = deps.isGpu(type) ? batchOf(deps, type) : undefined;
  if (!found || found.state.value !== 'running') return false;
  const { context } = found.state;
  return context.tally.ending === undefined && context.tally.inFlight >= deps.inFlightLimit(type);
}

/** Takes a seat for `entry` if its lane has one now; the caller then adopts or gives it back. */
export function takeSubmitSeat(deps: SubmitSeatDeps, entry: QueueEntry): SubmitSeat | undefined {
  const { freeLane } = deps;
  if (!deps.isGpu(entry.type)) {
    if (!freeLane.takeForSubmit(entry.type, deps.freeLaneThreads)) return undefined;
    return { device: undefined, adopt: (running) => freeLane.adopt(running), giveBack: () => freeLane.giveBack() };
  }
  if (deps.queues.depth(entry.type) > 0) return undefined;
  const found = batchOf(deps, entry.type);
  if (!found || !seatFree(found.state, entry.vramMiB, Date.now())) return undefined;
  const { batch, state } = found;
  batch.send({ type: 'SEAT_TAKEN', rank: PRIORITY_RANK[entry.priority] });
  const { tally } = state.context;
  const adopt = (running: Promise<TaskRan>) => {
    void running.then(tally.taskEnded, () => tally.taskEnded({ replied: false }));
    if (tally.ending === 'preempted') deps.preempt(entry.id);
  };
  return { device: state.context.device, adopt, giveBack: () => batch.send({ type: 'SEAT_RETURNED' }) };
}
