/**
 * The supervisor decides which batches start, and stops them all on close. It wakes when
 * something changed (tasks queued, a batch ended), runs the dispatch rule once and goes back
 * to idle. Per task it does nothing: batches take their own tasks from the queues.
 *
 *   idle ──WAKE / a batch done──▶ dispatching ──▶ idle
 *     └──CLOSE──▶ draining ──(last batch ended)──▶ stopped
 */
import { enqueueActions, setup, stopChild } from 'xstate';
import type { ResolvedType } from '../config.js';
import { decide, type WaitingType } from '../dispatch/rule.js';
import type { TaskQueues } from '../dispatch/queues.js';
import type { Device } from '../gpu/detect.js';
import { PRIORITY_RANK } from '../task.js';
import type { VramLedger } from '../threads/vram-ledger.js';
import type { BatchMachine, BatchOutput } from './batch.js';

export interface SupervisorDeps {
  queues: TaskQueues;
  ledger: VramLedger;
  devices: readonly Device[];
  types: ReadonlyMap<string, ResolvedType>;
  batch: BatchMachine;
  batchStarted(type: string, device: Device, leaseMiB: number): void;
  batchEnded(batch: BatchOutput): void;
}

interface SupervisorContext {
  /** Type → id of its live batch actor. */
  batches: Record<string, string>;
  /** Batches started so far: makes every batch actor id unique. */
  started: number;
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
      dispatch: enqueueActions(({ context, enqueue }) => {
        const waiting: WaitingType[] = [];
        for (const type of deps.queues.waitingTypes()) {
          if (!deps.types.get(type)?.gpu) continue; // the free lane does not wait for VRAM
          const batchId = context.batches[type];
          if (batchId) {
            enqueue.sendTo(batchId, { type: 'TASKS_AVAILABLE' });
            continue;
          }
          const head = deps.queues.peek(type)!;
          waiting.push({
            type,
            depth: deps.queues.depth(type),
            rank: PRIORITY_RANK[head.priority],
            headSeq: head.seq,
            needMiB: Math.max(deps.types.get(type)!.vramMiB, head.vramMiB),
          });
        }
        if (waiting.length === 0) return;
        const devices = deps.devices.map((d) => ({
          capacityMiB: deps.ledger.capacity(d.index),
          reservedMiB: deps.ledger.reserved(d.index),
        }));
        let started = context.started;
        const batches = { ...context.batches };
        for (const decision of decide({ waiting, devices })) {
          const lease = deps.ledger.tryReserve(decision.device, decision.mib, batchLeaseTag(started + 1));
          if (lease === -1) continue; // a task grew its VRAM meanwhile: the next wake retries
          const type = deps.types.get(decision.type)!;
          const device = deps.devices[decision.device]!;
          const id = `batch:${type.name}:${++started}`;
          batches[type.name] = id;
          enqueue.spawnChild('batch', {
            id,
            input: {
              type: type.name,
              device,
              lease,
              leaseMiB: decision.mib,
              budgetMiB: type.vramMiB,
              concurrency: type.concurrency,
            },
          });
          enqueue(() => deps.batchStarted(type.name, device, decision.mib));
        }
        enqueue.assign({ batches, started });
      }),
      forgetBatch: enqueueActions(({ context, event, enqueue }) => {
        const { output } = event as BatchDone;
        const id = context.batches[output.type];
        if (id) enqueue(stopChild(id));
        const { [output.type]: _ended, ...batches } = context.batches;
        enqueue.assign({ batches });
        enqueue(() => deps.batchEnded(output));
      }),
      stopBatches: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.values(context.batches)) enqueue.sendTo(id, { type: 'STOP' });
      }),
    },
    guards: {
      noBatches: ({ context }) => Object.keys(context.batches).length === 0,
    },
  }).createMachine({
    id: 'supervisor',
    context: { batches: {}, started: 0 },
    initial: 'idle',
    states: {
      idle: {
        on: {
          WAKE: 'dispatching',
          'xstate.done.actor.*': { target: 'dispatching', actions: 'forgetBatch' },
          CLOSE: 'draining',
        },
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
