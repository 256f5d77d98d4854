/**
 * The scheduler's parts, built and connected once: task controls, the VRAM ledger, the thread
 * pools, the lanes' claim-ahead, the free lane, the batch machine and the supervisor. What the
 * parts report (a task started or ended, a batch went warm, a handler's call) goes to `hooks`.
 */
import { randomUUID } from 'node:crypto';
import { createActor, type Actor } from 'xstate';
import { executeTask, type RunTaskInput, type TaskRan, type TaskRunDeps } from '../actors/run-task.js';
import { TaskControls } from '../actors/task-controls.js';
import type { ResolvedConfig } from '../config.js';
import { FreeLane } from '../dispatch/free-lane.js';
import type { TaskQueues } from '../dispatch/queues.js';
import { ClaimAhead } from '../dispatch/claim-ahead.js';
import { batchSeats } from '../dispatch/batch-need.js';
import { ErrorCode } from '../errors.js';
import type { Device } from '../gpu/detect.js';
import { createBatchMachine } from '../machines/batch.js';
import { createSupervisor, othersWaitFor, type SupervisorMachine } from '../machines/supervisor.js';
import type { InspectionObserver } from '../observability-options.js';
import type { TaskStore } from '../store/task-store.js';
import type { SubmitOptions, SubmitReceipt } from '../submit.js';
import { Pools } from '../threads/pools.js';
import { VramLedger } from '../threads/vram-ledger.js';
import { hasFreeRam, mibToGb } from '../units.js';
import type { QueueEntry } from '../task.js';
import type { Notify } from './notify.js';
import { batchTakesLater, takeSubmitSeat, type SubmitSeat } from './submit-seat.js';

export interface WiringHooks extends Pick<TaskRunDeps, 'started' | 'finished' | 'recorded' | 'retry' | 'preempted' | 'broken'> {
  /** A handler's ctx.progress(). */
  progress(taskId: string, value: number, info: unknown): void;
  /** A handler's follow-up submit. */
  submit(type: string, payload: unknown, options: SubmitOptions | undefined): Promise<SubmitReceipt>;
  /** Something that drain() waits for may have ended. */
  checkIdle(): void;
  /** Something changed that may let queued work start. */
  wake(): void;
  notify: Notify;
}

export interface Wiring {
  controls: TaskControls;
  ledger: VramLedger;
  pools: Pools;
  freeLane: FreeLane;
  /** Runs one task in its lane; what a submit stored as running at once goes through here. */
  runTask(input: RunTaskInput): Promise<TaskRan>;
  /** A seat for a task being submitted, when its lane would start it at once (see SubmitSeat). */
  takeSeat(entry: QueueEntry): SubmitSeat | undefined;
  /** Whether a task of `type` just queued is taken by its running batch without a wake (see batchTakesLater). */
  takenLater(type: string): boolean;
  /** Created, not started. */
  supervisor: Actor<SupervisorMachine>;
}

export function wire(
  config: ResolvedConfig,
  devices: readonly Device[],
  store: TaskStore,
  queues: TaskQueues,
  hooks: WiringHooks,
  inspect: InspectionObserver | undefined,
): Wiring {
  const waitingForVram = new Map<string, number>();
  const controls = new TaskControls(`vram-scheduler:abort:${randomUUID()}`, config.scheduling.cancelGraceMs);
  const ledger = VramLedger.create(devices.map((d) => ({ capacityMiB: d.capacityMiB })));
  const pools = new Pools({
    types: config.types,
    ledger: ledger.buffer,
    freeLaneThreads: config.freeLaneThreads,
    logLevel: config.logger.level,
    serviceName: config.serviceName,
    threadGone: (threadId) => ledger.recoverThread(threadId),
    threadFailed: (error) => config.logger.error({ err: error }, 'a worker thread died between tasks; it is replaced'),
    abortChannel: controls.channelName,
    appCalls: {
      progress: (taskId, value, info) => hooks.progress(taskId, value, info),
      submit: (type, payload, options) =>
        hooks.submit(type, payload, options).then(
          (receipt) => ({ ok: true as const, receipt }),
          (error: unknown) => ({ ok: false as const, error: { code: (error as { code?: string }).code ?? ErrorCode.HANDLER_ERROR, message: error instanceof Error ? error.message : String(error) } }),
        ),
    },
  });
  // A GPU type's threads run `concurrency` tasks each; the free lane shares its threads.
  // Each type claims ahead on its own run times: a quick free type must not get a slow one claimed far ahead.
  const claims = new Map([...config.types.values()].map((t) => [t.name, new ClaimAhead(t.gpu ? batchSeats(t) : config.freeLaneThreads)]));
  const claimAhead = (type: string) => claims.get(type)!;
  /** Tasks a lane may hold claimed or running at once when the next is of `type`. */
  const inFlightLimit = (type: string) => claimAhead(type).limit;
  const run: TaskRunDeps = {
    store,
    claimAhead,
    pools,
    ledger,
    controls,
    timeoutMs: (entry) => entry.timeoutMs ?? config.types.get(entry.type)!.timeoutMs,
    started: (record) => hooks.started(record),
    finished: (record) => hooks.finished(record),
    recorded: (committing) => hooks.recorded(committing),
    retry: (record, error) => hooks.retry(record, error),
    preempted: (record, checkpoint) => hooks.preempted(record, checkpoint),
    broken: (entry, error) => hooks.broken(entry, error),
  };
  const runTask = (input: RunTaskInput) => executeTask(run, input);
  const freeTypes = [...config.types.values()].filter((t) => !t.gpu);
  const freeTypeNames = freeTypes.map((t) => t.name);
  // Asked at every free-lane start: only types that need RAM make it look at free memory.
  const needRam = freeTypes.some((t) => t.ramGb > 0);
  const freeLane = new FreeLane({
    queues,
    startable: () => (needRam ? freeTypes.filter((t) => hasFreeRam(t.ramGb)).map((t) => t.name) : freeTypeNames),
    capacity: inFlightLimit,
    run: (entry) => runTask({ entry, device: undefined }),
    settled: () => hooks.checkIdle(),
  });
  const othersWait = (type: string, device: number) => othersWaitFor(waitingForVram, type, ledger.capacity(device));
  const batch = createBatchMachine({
    queues,
    ledger,
    runTask,
    unload: (type) => pools.unload(type),
    inFlightLimit,
    wentWarm: () => {
      queueMicrotask(() => hooks.checkIdle()); // once the batch's snapshot says warm
      hooks.wake(); // a type waiting for VRAM may now evict it
    },
    othersWaitFor: othersWait,
    preempt: (type) => controls.stopType(type, 'preempted'),
  });
  const supervisor = createActor(
    createSupervisor({
      queues,
      ledger,
      devices,
      types: config.types,
      batch,
      scheduling: config.scheduling,
      waitingForVram,
      batchStarted: (type, device, leaseMiB) => hooks.notify('batch:started', { type, device: device.id, vramGb: mibToGb(leaseMiB) }),
      batchEnded: (batch) => {
        hooks.notify('batch:ended', batch);
        hooks.checkIdle();
      },
    }),
    { inspect },
  );
  const seats = {
    queues,
    freeLane,
    freeLaneThreads: config.freeLaneThreads,
    supervisor,
    isGpu: (type: string) => config.types.get(type)!.gpu,
    preempt: (id: string) => void controls.stop(id, 'preempted'),
    inFlightLimit,
  };
  return { controls, ledger, pools, freeLane, runTask, takeSeat: (entry) => takeSubmitSeat(seats, entry), takenLater: (type) => batchTakesLater(seats, type), supervisor };
}
