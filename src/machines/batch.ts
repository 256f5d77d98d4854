/**
 * One batch: one type's tasks run back to back on one device, under one lease, so the model
 * loads once. The supervisor reserves the lease and spawns the batch; the batch takes tasks
 * from its type's queue (up to its seats at a time) until the queue is empty, then
 * unloads the model and returns the lease.
 *
 *   running ⇄ warm (queue empty: model loaded, lease held, for keepAliveMs) ──(expired, EVICT)─┐
 *   running ──(queue empty, nothing in flight, keepAliveMs 0)───────────▶ unloading ─▶ released
 *      └──(STOP; PREEMPT; the next task needs VRAM that is not free; quantum
 *          spent while another type waits for this device's VRAM)──▶ finishing ─┘
 *
 * The machine holds control only: its state, why it ends, the lease handle. Tasks stay in the
 * queues, and what changes with every task (counts, the lease's size) in its tally (batch-tally.ts).
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { RunTaskInput, TaskRan } from '../actors/run-task.js';
import type { TaskQueues } from '../dispatch/queues.js';
import type { Device } from '../gpu/detect.js';
import type { VramLedger } from '../threads/vram-ledger.js';
import { BatchTally } from './batch-tally.js';

export interface BatchDeps {
  queues: TaskQueues;
  ledger: VramLedger;
  /** Runs one task; resolves once its thread is free again, never rejects. A plain call, not a child actor: no per-task actor to spawn and stop. */
  runTask(input: RunTaskInput): Promise<TaskRan>;
  /** Runs the handler's `unload()` in the type's thread. */
  unload(type: string): Promise<void>;
  /** Whether another type waits for VRAM that this batch's device could give it (for the quantum). */
  othersWaitFor(type: string, device: number): boolean;
  /** Tasks a batch of this type may hold claimed or running at once (its concurrency, and claims ahead). */
  inFlightLimit(type: string): number;
  /** The batch went warm: nothing of it runs now (drain() may be waiting for that). */
  wentWarm(): void;
  /** Asks the type's tasks in flight to stop for preemption (their ctx.signal aborts with 'preempted'). */
  preempt(type: string): void;
}

export interface BatchInput {
  type: string;
  device: Device;
  /** Ledger lease handle, already reserved by the supervisor. */
  lease: number;
  /** What the lease holds now: the type's budget, or more when the first task overrides it. */
  leaseMiB: number;
  /** The type's budget, for one copy of the model: the lease never shrinks below it once per thread while the batch lives. */
  vramMiB: number;
  /** The type's threads, each with a copy of the model: a task that needs more than the budget needs it in each. */
  threads: number;
  /** Tasks it runs at once: its threads × the type's concurrency. */
  seats: number;
  /** After this long of running with its model loaded (from the first task its worker answered; at least 19× the load), yield at a task boundary when another type waits for the VRAM; 0 = never. */
  quantumMs: number;
  /** How long the batch stays warm (model loaded, lease held) once its queue is empty; 0 = end at once. */
  keepAliveMs: number;
}

/** Why a batch ended: its queue ran dry, the next task needed VRAM it could not grow to, its quantum ran out while another type waited, or close() stopped it. */
export type BatchEndReason = 'drained' | 'blocked' | 'yielded' | 'stopped' | 'idle' | 'evicted' | 'preempted';

export interface BatchContext extends BatchInput {
  /** What changes with every task, changed in place (see BatchTally). */
  tally: BatchTally;
  /** Epoch ms it last went warm: eviction takes the least recently used first. */
  idleSince: number;
}

/** The batch's output, in the `xstate.done.actor.*` event its parent receives once the lease is returned. */
export interface BatchOutput {
  type: string;
  device: string;
  tasks: number;
  reason: BatchEndReason;
}

/**
 * SEAT_TAKEN: a submit stores a task of this batch's type as running at once (see `seatFree`);
 * SEAT_RETURNED: its insert failed. TASKS_DONE: a task ended and left nothing in flight, or the
 * batch is ending (see BatchTally.taskEnded).
 */
export type BatchEvent = { type: 'TASKS_AVAILABLE' } | { type: 'SEAT_TAKEN'; rank: number } | { type: 'SEAT_RETURNED' } | { type: 'TASKS_DONE' } | { type: 'STOP' } | { type: 'EVICT' } | { type: 'PREEMPT' };

/**
 * Whether a batch would start a task needing `ownMiB` (0: its type's budget) the moment it were queued: it runs or is
 * warm, a thread seat is free (not only a claim ahead), its lease covers the task and its
 * quantum does not make it yield. A submit that finds its type's queue empty then stores the
 * task as running in the same commit as its insert (SEAT_TAKEN): one commit before it starts, not two.
 */
export function seatFree(batch: { value: unknown; context: BatchContext }, ownMiB: number, nowMs: number): boolean {
  const { seats, tally } = batch.context;
  if (batch.value !== 'warm' && !(batch.value === 'running' && tally.ending === undefined)) return false;
  if (tally.inFlight >= seats || tally.leaseFor(ownMiB) > tally.leaseMiB) return false;
  return !tally.yieldsTurn(nowMs);
}

export function createBatchMachine(deps: BatchDeps) {
  return setup({
    types: {} as { context: BatchContext; input: BatchInput; events: BatchEvent; output: BatchOutput },
    actors: {
      unload: fromPromise<void, string>(({ input }) => deps.unload(input)),
    },
    actions: {
      // The tally changes inside enqueueActions, which runs as the machine transitions (a plain
      // action runs after): the transitions that follow (`always`) see the new counts.
      /** Takes queued tasks while there is room (see BatchTally.take), and starts them. */
      fill: enqueueActions(({ context, enqueue }) => {
        const taken = context.tally.take();
        if (taken.length > 0) enqueue(() => context.tally.run(taken));
      }),
      /** A submit stored a task as running for this batch: it counts as in flight until it ends. */
      seatTaken: enqueueActions(({ context, event }) => context.tally.seatTaken((event as { rank: number }).rank)),
      /** A seat's insert failed: its task never started. */
      seatReturned: enqueueActions(({ context }) => context.tally.seatReturned()),
      releaseLease: ({ context }) => deps.ledger.release(context.lease),
      stopping: enqueueActions(({ context }) => void (context.tally.ending = 'stopped')),
      /** Every running task is asked to stop; each goes back to its queue when it has. */
      preempting: enqueueActions(({ context, enqueue }) => {
        context.tally.ending = 'preempted';
        enqueue(() => deps.preempt(context.type));
      }),
      evicted: enqueueActions(({ context }) => void (context.tally.ending = 'evicted')),
      expired: enqueueActions(({ context }) => void (context.tally.ending = 'idle')),
      cooled: assign({ idleSince: () => Date.now() }),
      reportWarm: () => deps.wentWarm(),
    },
    delays: {
      keepAlive: ({ context }) => context.keepAliveMs,
    },
    guards: {
      idle: ({ context }) => context.tally.settled,
      ending: ({ context }) => context.tally.ending !== undefined,
      staysWarm: ({ context }) => context.tally.settled && context.keepAliveMs > 0,
    },
  }).createMachine({
    id: 'batch',
    context: ({ input, self }) => ({ ...input, tally: new BatchTally(deps, input, self), idleSince: 0 }),
    initial: 'running',
    states: {
      running: {
        entry: 'fill',
        on: {
          TASKS_AVAILABLE: { actions: 'fill' },
          SEAT_TAKEN: { actions: 'seatTaken' },
          SEAT_RETURNED: { actions: ['seatReturned', 'fill'] },
          TASKS_DONE: {}, // the tally has counted it: the transitions below look
          STOP: { target: 'finishing', actions: 'stopping' },
          PREEMPT: { target: 'finishing', actions: 'preempting' },
        },
        always: [
          { guard: 'ending', target: 'finishing' },
          { guard: 'staysWarm', target: 'warm' },
          { guard: 'idle', target: 'unloading' },
        ],
      },
      warm: {
        entry: ['cooled', 'reportWarm'],
        on: {
          TASKS_AVAILABLE: 'running',
          SEAT_TAKEN: { target: 'running', actions: 'seatTaken' },
          EVICT: { target: 'unloading', actions: 'evicted' },
          PREEMPT: { target: 'unloading', actions: 'evicted' },
          STOP: { target: 'unloading', actions: 'stopping' },
        },
        after: { keepAlive: { target: 'unloading', actions: 'expired' } },
      },
      finishing: {
        on: { TASKS_DONE: {}, SEAT_RETURNED: { actions: 'seatReturned' } },
        always: { guard: 'idle', target: 'unloading' },
      },
      unloading: {
        invoke: {
          id: 'unload',
          src: 'unload',
          input: ({ context }) => context.type,
          onDone: 'released',
          onError: 'released',
        },
      },
      released: {
        type: 'final',
        entry: 'releaseLease',
      },
    },
    output: ({ context }) => ({ type: context.type, device: context.device.id, tasks: context.tally.started, reason: context.tally.ending ?? 'drained' }),
  });
}

export type BatchMachine = ReturnType<typeof createBatchMachine>;
