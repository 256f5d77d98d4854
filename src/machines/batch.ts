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
 * The machine holds control only: counts and the lease handle. Tasks stay in the queues.
 */
import { assign, enqueueActions, fromPromise, setup, type AnyActorRef } from 'xstate';
import type { RunTaskInput, TaskRan } from '../actors/run-task.js';
import { quantumSpent } from '../dispatch/quantum.js';
import type { TaskQueues } from '../dispatch/queues.js';
import type { Device } from '../gpu/detect.js';
import type { VramLedger } from '../threads/vram-ledger.js';
import { PRIORITY_RANK } from '../task.js';

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
  /** The type's budget, once per thread: the lease never shrinks below it while the batch lives. */
  budgetMiB: number;
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
  inFlight: number;
  /** Tasks this batch has started. */
  started: number;
  /** Set once the batch takes no more tasks; it then finishes what is in flight. */
  ending: Exclude<BatchEndReason, 'drained'> | undefined;
  /** Epoch ms it last went warm: eviction takes the least recently used first. */
  idleSince: number;
  /** Epoch ms its worker first answered a task: the model was loaded by then, so the quantum counts from here. */
  readySince: number | undefined;
  /** How long its model took to load (0 until a task reports it): a slow load lengthens the quantum. */
  loadMs: number;
  /** Most urgent priority rank among the tasks it started (0 = critical): preemption spares batches as urgent as the waiting task. */
  bestRank: number;
}

/** The batch's output, in the `xstate.done.actor.*` event its parent receives once the lease is returned. */
export interface BatchOutput {
  type: string;
  device: string;
  tasks: number;
  reason: BatchEndReason;
}

/**
 * SEAT_TAKEN: a submit stores a task of this batch's type as running at once (see `seatFree`); it
 * ends in a TASKS_DONE, or SEAT_RETURNED when its insert failed. TASKS_DONE: the tasks that
 * ended in one event-loop turn (see `taskEnded`).
 */
export type BatchEvent = { type: 'TASKS_AVAILABLE' } | { type: 'SEAT_TAKEN'; rank: number } | { type: 'SEAT_RETURNED' } | { type: 'TASKS_DONE'; ran: TaskRan[] } | { type: 'STOP' } | { type: 'EVICT' } | { type: 'PREEMPT' };

/** Tasks that ended this turn, per batch, not yet reported. */
const endedThisTurn = new Map<AnyActorRef, TaskRan[]>();

/**
 * A task of `batch` ended. The batch hears of the turn's ended tasks in one TASKS_DONE at the
 * end of the turn, not in one event each: under load a turn ends many tasks, and each event
 * costs the machine a transition and its allocations. The seats stay counted as in flight
 * until then, so a batch never ends or goes warm with a task still running.
 */
export function taskEnded(batch: AnyActorRef, ran: TaskRan): void {
  if (endedThisTurn.size === 0) setImmediate(reportEnded);
  const ended = endedThisTurn.get(batch);
  if (ended) ended.push(ran);
  else endedThisTurn.set(batch, [ran]);
}

function reportEnded(): void {
  const reports = [...endedThisTurn];
  endedThisTurn.clear();
  for (const [batch, ran] of reports) batch.send({ type: 'TASKS_DONE', ran });
}

/**
 * Whether a batch would start a task needing `ownMiB` (0: its type's budget) the moment it were queued: it runs or is
 * warm, a thread seat is free (not only a claim ahead), its lease covers the task and its
 * quantum does not make it yield. A submit that finds its type's queue empty then stores the
 * task as running in the same commit as its insert (SEAT_TAKEN): one commit before it starts, not two.
 */
export function seatFree(batch: { value: unknown; context: BatchContext }, ownMiB: number, nowMs: number, othersWaitFor: (type: string, device: number) => boolean): boolean {
  const { context } = batch;
  if (batch.value !== 'warm' && !(batch.value === 'running' && context.ending === undefined)) return false;
  if (context.inFlight >= context.seats || leaseFor(context, ownMiB) > context.leaseMiB) return false;
  return !yieldsTurn(context, context.started, nowMs, othersWaitFor);
}

/** The lease a batch needs to run a task needing `ownMiB` (see batchNeedMiB). */
function leaseFor(context: BatchContext, ownMiB: number): number {
  return Math.max(context.budgetMiB, context.threads * ownMiB);
}

/** Whether a batch that has started `started` tasks yields now: its quantum is spent and another type waits for its device's VRAM. */
function yieldsTurn(context: BatchContext, started: number, nowMs: number, othersWaitFor: (type: string, device: number) => boolean): boolean {
  return started > 0 && quantumSpent(nowMs, context.quantumMs, context.readySince, context.loadMs) && othersWaitFor(context.type, context.device.index);
}

export function createBatchMachine(deps: BatchDeps) {
  return setup({
    types: {} as { context: BatchContext; input: BatchInput; events: BatchEvent; output: BatchOutput },
    actors: {
      unload: fromPromise<void, string>(({ input }) => deps.unload(input)),
    },
    actions: {
      /** Takes queued tasks while there is room; grows the lease for a task that overrides its budget. */
      fill: enqueueActions(({ context, enqueue, self }) => {
        let { inFlight, leaseMiB, started, bestRank } = context;
        let ending: BatchContext['ending'];
        const limit = deps.inFlightLimit(context.type);
        const done = (ran: TaskRan) => taskEnded(self, ran);
        while (inFlight < limit) {
          const entry = deps.queues.peek(context.type);
          if (!entry) break;
          if (yieldsTurn(context, started, Date.now(), deps.othersWaitFor)) {
            ending = 'yielded';
            break;
          }
          const needMiB = leaseFor(context, entry.vramMiB);
          if (needMiB > leaseMiB) {
            if (!deps.ledger.resize(context.lease, needMiB)) {
              ending = 'blocked';
              break;
            }
            leaseMiB = needMiB;
          }
          deps.queues.take(entry);
          const input = { entry, device: context.device };
          enqueue(() => void deps.runTask(input).then(done, () => done({ replied: false })));
          inFlight++;
          started++;
          bestRank = Math.min(bestRank, PRIORITY_RANK[entry.priority]);
        }
        enqueue.assign({ inFlight, leaseMiB, started, ending, bestRank });
      }),
      /** A submit stored a task as running for this batch: it counts as in flight until it is reported done. */
      seatTaken: assign(({ context, event }) => ({
        inFlight: context.inFlight + 1,
        started: context.started + 1,
        bestRank: event.type === 'SEAT_TAKEN' ? Math.min(context.bestRank, event.rank) : context.bestRank,
      })),
      /** A seat's insert failed: its task never started (taskDone frees the seat). */
      seatReturned: assign({ started: ({ context }) => context.started - 1 }),
      /** Tasks ended (or a seat came back): once nothing is in flight, give back what was grown for an override. */
      taskDone: assign(({ context, event }) => {
        // A returned seat frees one seat, like a task no worker answered.
        const ended = event.type === 'TASKS_DONE' ? event.ran : [{ replied: false }];
        const inFlight = context.inFlight - ended.length;
        let { readySince, loadMs } = context;
        for (const ran of ended) {
          // Only a task its worker answered proves the model loaded: the quantum counts from there.
          if (ran.replied) readySince ??= Date.now();
          loadMs = Math.max(loadMs, ran.loadMs ?? 0);
        }
        if (inFlight === 0 && context.leaseMiB > context.budgetMiB) {
          deps.ledger.resize(context.lease, context.budgetMiB);
          return { inFlight, readySince, loadMs, leaseMiB: context.budgetMiB };
        }
        return { inFlight, readySince, loadMs };
      }),
      releaseLease: ({ context }) => deps.ledger.release(context.lease),
      stopping: assign({ ending: 'stopped' as const }),
      /** Every running task is asked to stop; each goes back to its queue when it has. */
      preempting: enqueueActions(({ context, enqueue }) => {
        enqueue.assign({ ending: 'preempted' as const });
        enqueue(() => deps.preempt(context.type));
      }),
      evicted: assign({ ending: 'evicted' as const }),
      expired: assign({ ending: 'idle' as const }),
      cooled: assign({ idleSince: () => Date.now() }),
      reportWarm: () => deps.wentWarm(),
    },
    delays: {
      keepAlive: ({ context }) => context.keepAliveMs,
    },
    guards: {
      idle: ({ context }) => context.inFlight === 0,
      ending: ({ context }) => context.ending !== undefined,
      staysWarm: ({ context }) => context.inFlight === 0 && context.keepAliveMs > 0,
    },
  }).createMachine({
    id: 'batch',
    context: ({ input }) => ({ ...input, inFlight: 0, started: 0, ending: undefined, idleSince: 0, readySince: undefined, loadMs: 0, bestRank: Number.POSITIVE_INFINITY }),
    initial: 'running',
    states: {
      running: {
        entry: 'fill',
        on: {
          TASKS_AVAILABLE: { actions: 'fill' },
          SEAT_TAKEN: { actions: 'seatTaken' },
          SEAT_RETURNED: { actions: ['taskDone', 'seatReturned', 'fill'] },
          TASKS_DONE: { actions: ['taskDone', 'fill'] },
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
        on: { TASKS_DONE: { actions: 'taskDone' }, SEAT_RETURNED: { actions: ['taskDone', 'seatReturned'] } },
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
    output: ({ context }) => ({ type: context.type, device: context.device.id, tasks: context.started, reason: context.ending ?? 'drained' }),
  });
}

export type BatchMachine = ReturnType<typeof createBatchMachine>;
