/**
 * The supervisor decides which batches start, and stops them all on close. It wakes when
 * something changed (tasks queued, a batch ended), runs the dispatch rule once and goes back
 * to idle. Per task it does nothing: batches take their own tasks from the queues.
 *
 *   idle ──WAKE / a batch done──▶ dispatching ──▶ idle
 *     └──CLOSE──▶ draining ──(last batch ended)──▶ stopped
 */
import { enqueueActions, setup, stopChild, type AnyActorRef } from 'xstate';
import type { ResolvedType } from '../config.js';
import { batchNeedMiB, batchSeats } from '../dispatch/batch-need.js';
import { choosePreemption, PREEMPTING_RANK, type RunningBatch } from '../dispatch/preempt.js';
import { compareWaiting, decide, type DeviceState, type WaitingType, type WarmBatch } from '../dispatch/rule.js';
import { PRIORITY_RANK } from '../task.js';
import type { TaskQueues } from '../dispatch/queues.js';
import type { Device } from '../gpu/detect.js';
import type { Scheduling } from '../scheduling-options.js';
import { hasFreeRam } from '../units.js';
import type { VramLedger } from '../threads/vram-ledger.js';
import type { BatchContext, BatchMachine, BatchOutput } from './batch.js';

export interface SupervisorDeps {
  queues: TaskQueues;
  ledger: VramLedger;
  devices: readonly Device[];
  types: ReadonlyMap<string, ResolvedType>;
  batch: BatchMachine;
  scheduling: Scheduling;
  /**
   * Written by every dispatch: the GPU types that wait for VRAM (type → MiB needed; Infinity for
   * a type waiting for system memory, `ramGb`). Batches
   * read it to decide whether to yield after their quantum; the idle tick reads it.
   */
  waitingForVram: Map<string, number>;
  batchStarted(type: string, device: Device, leaseMiB: number): void;
  batchEnded(batch: BatchOutput): void;
}

interface SupervisorContext {
  /** Type → id of its live batch actor. */
  batches: Record<string, string>;
  /** Batches started so far: makes every batch actor id unique. */
  started: number;
  /** Types whose last batch yielded its quantum: they rank after equal-priority types until they start again. */
  yielded: string[];
}

/** A batch actor reached its final state: its lease is back. */
type BatchDone = { type: `xstate.done.actor.${string}`; output: BatchOutput };

export type SupervisorEvent = { type: 'WAKE' } | { type: 'CLOSE' } | BatchDone;

/** Batch leases are tagged with negative numbers; task leases use the task's (positive) seq. */
const batchLeaseTag = (n: number) => -n;

export function createSupervisor(deps: SupervisorDeps) {
  return setup({
    types: {} as { context: SupervisorContext; events: SupervisorEvent },
    actors: { batch: deps.batch },
    actions: {
      /** Step 1: wake the batches whose type has new tasks. Steps 2–3: start batches where VRAM fits. */
      dispatch: enqueueActions(({ context, enqueue, self }) => {
        const now = Date.now();
        const waiting: WaitingType[] = [];
        const ramBlocked: string[] = [];
        const warm: WarmBatch[] = [];
        /** Head task's priority rank as submitted, per waiting type: only real urgency preempts. */
        const submittedRank = new Map<string, number>();
        for (const [type, id] of Object.entries(context.batches)) {
          const batch = self.getSnapshot().children[id]?.getSnapshot() as { value: unknown; context: BatchContext } | undefined;
          // A warm batch with queued tasks is about to run them (TASKS_AVAILABLE below): not evictable.
          if (batch?.value === 'warm' && deps.queues.depth(type) === 0) warm.push({ type, device: batch.context.device.index, mib: batch.context.tally.leaseMiB, idleSince: batch.context.idleSince });
        }
        for (const type of deps.queues.waitingTypes()) {
          const typeConfig = deps.types.get(type);
          if (!typeConfig?.gpu) continue; // the free lane does not wait for VRAM
          const batchId = context.batches[type];
          if (batchId) {
            enqueue.sendTo(batchId, { type: 'TASKS_AVAILABLE' });
            continue;
          }
          if (!hasFreeRam(typeConfig.ramGb)) {
            ramBlocked.push(type);
            continue;
          }
          const { entry, rank } = deps.queues.head(type, now)!;
          submittedRank.set(type, PRIORITY_RANK[entry.priority]);
          waiting.push({
            type,
            depth: deps.queues.depth(type),
            rank,
            headSeq: entry.seq,
            waitedMs: now - entry.queuedAt,
            needMiB: batchNeedMiB(typeConfig, entry.vramMiB),
            yielded: context.yielded.includes(type),
          });
        }
        deps.waitingForVram.clear();
        // Waiting for system memory, not VRAM: Infinity keeps the idle tick going without making batches yield.
        for (const type of ramBlocked) deps.waitingForVram.set(type, Number.POSITIVE_INFINITY);
        if (waiting.length === 0) return;
        const devices = deviceStates(deps);
        let started = context.started;
        const batches = { ...context.batches };
        const starting = new Set<string>();
        /** Evictions of this dispatch: their leases are on the way back, for these types. */
        const evicted = new Set<string>();
        const makingRoomFor = new Set<string>();
        for (const decision of decide({ waiting, warm, devices, starvationMs: deps.scheduling.starvationMs })) {
          if (decision.kind === 'evict') {
            enqueue.sendTo(context.batches[decision.type]!, { type: 'EVICT' });
            evicted.add(decision.type);
            makingRoomFor.add(decision.for);
          }
          if (decision.kind !== 'start') continue;
          const lease = deps.ledger.tryReserve(decision.device, decision.mib, batchLeaseTag(started + 1));
          if (lease === -1) continue; // a task grew its VRAM meanwhile: the next wake retries
          const type = deps.types.get(decision.type)!;
          const device = deps.devices[decision.device]!;
          const id = `batch:${type.name}:${++started}`;
          batches[type.name] = id;
          starting.add(type.name);
          enqueue.spawnChild('batch', {
            id,
            input: {
              type: type.name,
              device,
              lease,
              leaseMiB: decision.mib,
              vramMiB: type.vramMiB,
              threads: type.threads,
              seats: batchSeats(type),
              quantumMs: deps.scheduling.quantumMs,
              keepAliveMs: type.keepAliveMs,
            },
          });
          enqueue(() => deps.batchStarted(type.name, device, decision.mib));
        }
        for (const w of waiting) if (!starting.has(w.type)) deps.waitingForVram.set(w.type, w.needMiB);
        enqueue.assign({ batches, started, yielded: context.yielded.filter((type) => !starting.has(type)) });
        if (!deps.scheduling.preemption) return;
        const urgent = waiting
          .filter((w) => !starting.has(w.type) && !makingRoomFor.has(w.type) && submittedRank.get(w.type)! <= PREEMPTING_RANK)
          .sort(compareWaiting)[0];
        if (urgent === undefined) return;
        const victims = choosePreemption(
          { type: urgent.type, rank: submittedRank.get(urgent.type)!, needMiB: urgent.needMiB },
          liveBatches(context.batches, self.getSnapshot().children, deps, evicted),
          deviceStates(deps),
        );
        for (const victim of victims) enqueue.sendTo(context.batches[victim.type]!, { type: 'PREEMPT' });
      }),
      forgetBatch: enqueueActions(({ context, event, enqueue }) => {
        const { output } = event as BatchDone;
        const id = context.batches[output.type];
        if (id) enqueue(stopChild(id));
        const { [output.type]: _ended, ...batches } = context.batches;
        const yielded = output.reason === 'yielded' ? [...context.yielded, output.type] : context.yielded;
        enqueue.assign({ batches, yielded });
        enqueue(() => deps.batchEnded(output));
      }),
      stopBatches: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.values(context.batches)) enqueue.sendTo(id, { type: 'STOP' });
      }),
    },
    guards: {
      noBatches: ({ context }) => Object.keys(context.batches).length === 0,
      typesWaitForVram: () => deps.waitingForVram.size > 0,
    },
    delays: {
      /** Aging, the hold and quanta depend on time: look again while types wait for VRAM. */
      tick: () => tickMs(deps.scheduling),
    },
  }).createMachine({
    id: 'supervisor',
    context: { batches: {}, started: 0, yielded: [] },
    initial: 'idle',
    states: {
      idle: {
        on: {
          WAKE: 'dispatching',
          'xstate.done.actor.*': { target: 'dispatching', actions: 'forgetBatch' },
          CLOSE: 'draining',
        },
        after: { tick: { guard: 'typesWaitForVram', target: 'dispatching' } },
      },
      dispatching: {
        entry: 'dispatch',
        always: 'idle',
      },
      draining: {
        entry: 'stopBatches',
        on: { 'xstate.done.actor.*': { actions: 'forgetBatch' } },
        always: { guard: 'noBatches', target: 'stopped' },
      },
      stopped: { type: 'final' },
    },
  });
}

export type SupervisorMachine = ReturnType<typeof createSupervisor>;

/** Whether a type other than `type` waits for VRAM that a device of `capacityMiB` could give it. */
export function othersWaitFor(waitingForVram: ReadonlyMap<string, number>, type: string, capacityMiB: number): boolean {
  for (const [waiting, needMiB] of waitingForVram) if (waiting !== type && needMiB <= capacityMiB) return true;
  return false;
}

/** What the rule sees of each device: VRAM used outside the scheduler counts as taken. */
function deviceStates({ devices, ledger }: SupervisorDeps): DeviceState[] {
  return devices.map((d) => ({ capacityMiB: ledger.capacity(d.index), reservedMiB: ledger.reserved(d.index) + ledger.external(d.index) }));
}

/**
 * Live batches as preemption sees them. An idle warm batch runs nothing, so any may make room;
 * a warm one whose type has queued work is about to run it (this dispatch woke it), so it counts
 * as running that work. A batch evicted in this dispatch is already ending.
 */
function liveBatches(batches: Record<string, string>, children: Record<string, AnyActorRef | undefined>, { types, queues }: SupervisorDeps, evicted: ReadonlySet<string>): RunningBatch[] {
  return Object.values(batches).flatMap((id) => {
    const batch = children[id]?.getSnapshot() as { status: string; value: unknown; context: BatchContext } | undefined;
    if (batch?.status !== 'active') return [];
    const { type, device } = batch.context;
    const { leaseMiB, bestRank, ending } = batch.context.tally;
    const next = queues.head(type)?.entry;
    const idle = batch.value === 'warm' && next === undefined;
    const rank = idle ? Number.POSITIVE_INFINITY : Math.min(bestRank, next === undefined ? bestRank : PRIORITY_RANK[next.priority]);
    const leaving = ending !== undefined || batch.value === 'unloading' || evicted.has(type);
    return [{ type, device: device.index, mib: leaseMiB, rank, preemptible: idle || types.get(type)!.preemptible, ending: leaving }];
  });
}

/** How often `idle` looks again while types wait for VRAM: half the shortest time-based interval, between 10 ms and 1 s. The simulated cluster (bench/simulate) uses it too. */
export function tickMs({ agingMs, starvationMs, quantumMs }: Pick<Scheduling, 'agingMs' | 'starvationMs' | 'quantumMs'>): number {
  const intervals = [agingMs, starvationMs, quantumMs].filter((ms) => ms > 0);
  return intervals.length === 0 ? 1000 : Math.min(1000, Math.max(10, Math.min(...intervals) / 2));
}
