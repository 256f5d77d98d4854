/**
 * What Piscina loads in every worker thread. The thread serves its pool's board (lane-serve.ts):
 * it imports a type's configured handler module once per thread, keeps the loaded model warm
 * between the tasks of a batch, and answers every task with a reply instead of throwing: a task
 * that gets no reply means the thread itself died.
 */
import { BroadcastChannel, MessageChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import type { ControlMessage } from '../actors/task-controls.js';
import { pino } from 'pino';
import { ErrorCode, SchedulerError } from '../errors.js';
import { gbToMiB } from '../units.js';
import { isHandler, type Handler, type TaskContext, type TaskDevice, type TaskVram } from './handler.js';
import type { RunMessage, ServeMessage, WorkerReply, WorkerSetup } from './protocol.js';
import { VramLedger } from './vram-ledger.js';
import { connectAppCalls, type AppPortMessage } from './app-calls.js';
import { ProgressReporter } from './progress.js';
import { serveLane } from './lane-serve.js';
import { isPlainData } from './plain-data.js';
import { LazySignal } from './lazy-signal.js';

const setup = workerData as WorkerSetup;
const ledger = VramLedger.attach(setup.ledger);
const log = pino({ name: setup.serviceName, level: setup.logLevel }).child({ thread: threadId });

interface Warm {
  handler: Handler;
  model: unknown;
  /** How long importing the handler and its load() took; reported with the first reply after it. */
  loadMs: number | undefined;
}

/** ctx.signal of every task running in this thread; the scheduler aborts one by id. */
const signals = new Map<string, LazySignal>();
const aborts = new BroadcastChannel(setup.abortChannel);
aborts.onmessage = (event) => {
  const message = (event as { data: ControlMessage }).data;
  if (message.op === 'abort') signals.get(message.taskId)?.abort(message.reason);
};
aborts.unref();

/** Calls back to the app (progress, follow-up submits): one channel per thread, its far end posted to the pool. */
const appChannel = new MessageChannel();
parentPort!.postMessage({ vramSchedulerAppPort: appChannel.port2 } satisfies AppPortMessage, [appChannel.port2]);
const app = connectAppCalls(appChannel.port1);

/** Per type: the handler and its loaded model in this thread (or the load failure, kept for the batch). */
const warm = new Map<string, Promise<Warm>>();

/** Piscina's one task per thread: serve the pool's board for as long as the thread lives. */
export default function handle(message: ServeMessage): Promise<never> {
  return serveLane(message, run, unload);
}

async function run(message: RunMessage): Promise<WorkerReply> {
  // Listening before the model loads: a stop asked meanwhile (the task already taken) must still reach ctx.signal.
  const stop = new LazySignal();
  signals.set(message.taskId, stop);
  let ready: Warm;
  try {
    ready = await load(message.type, message.device);
  } catch (error) {
    signals.delete(message.taskId);
    return failure(ErrorCode.MODEL_LOAD_FAILED, `Loading the ${message.type} handler failed: ${describe(error)}`);
  }
  const vram = new TaskLease(message, stop);
  let saved: { state: unknown } | undefined;
  const progress = new ProgressReporter((value, info) => void app.progress(message.taskId, value, info));
  const ctx: TaskContext = {
    taskId: message.taskId,
    type: message.type,
    device: message.device,
    get signal() {
      return stop.signal;
    },
    // Writable, as a plain property would be (e.g. ctx.signal = AbortSignal.any([ctx.signal, mine])).
    set signal(signal: AbortSignal) {
      Object.defineProperty(this, 'signal', { value: signal, writable: true, enumerable: true, configurable: true });
    },
    // Made on first use: most handlers never log, and a pino child costs an allocation per task.
    get log() {
      const child = log.child({ type: message.type, taskId: message.taskId });
      Object.defineProperty(this, 'log', { value: child, enumerable: true });
      return child;
    },
    vram,
    resumeFrom: message.resumeFrom,
    async checkpoint(state) {
      // Posted at once as well as returned with the reply: it survives the thread being terminated.
      aborts.postMessage({ op: 'checkpoint', taskId: message.taskId, state } satisfies ControlMessage);
      saved = { state };
    },
    progress: (value, info) => progress.report(value, info),
    async submit(type, payload, options) {
      if (options !== undefined && typeof options === 'object' && 'signal' in options) {
        throw new TypeError('ctx.submit(): `signal` cannot cross to the main thread; cancel the follow-up task by its id instead');
      }
      const reply = await app.submit(type, payload, options);
      if (!reply.ok) throw new SchedulerError(reply.error.code as ErrorCode, reply.error.message);
      return reply.receipt;
    },
  };
  /** Adds what the main thread needs beside the result: the saved checkpoint, the model load time. */
  const withRunFacts = (reply: WorkerReply): WorkerReply => {
    if (saved !== undefined) reply.checkpoint = saved;
    if (ready.loadMs !== undefined) {
      reply.loadMs = ready.loadMs;
      ready.loadMs = undefined;
    }
    return reply;
  };
  try {
    const value = await ready.handler.run(message.payload, ctx, ready.model);
    const problem = cloneProblem(value);
    return withRunFacts(problem === undefined ? { ok: true, value } : failure(ErrorCode.HANDLER_ERROR, problem));
  } catch (error) {
    return withRunFacts(failure(ErrorCode.HANDLER_ERROR, describe(error)));
  } finally {
    progress.flush();
    vram.releaseAll();
    signals.delete(message.taskId);
  }
}

/** Piscina cannot post an uncloneable result back and rejects with no usable error: check here. */
function cloneProblem(value: unknown): string | undefined {
  try {
    if (!isPlainData(value)) structuredClone(value); // in the try: a getter that throws fails it here too
    return undefined;
  } catch (error) {
    return `the result cannot be structured-cloned (${describe(error)}): return plain data`;
  }
}

function load(type: string, device: TaskDevice | undefined): Promise<Warm> {
  let ready = warm.get(type);
  if (!ready) {
    const loadingSince = performance.now();
    ready = importHandler(type).then(async (handler) => {
      const model = await handler.load?.({ type, device, log: log.child({ type }) });
      return { handler, model, loadMs: performance.now() - loadingSince };
    });
    ready.catch(() => {}); // the failure is reported to every task of the batch, not as unhandled
    warm.set(type, ready);
  }
  return ready;
}

async function importHandler(type: string): Promise<Handler> {
  const href = setup.handlers[type];
  if (href === undefined) throw new Error(`no handler module is configured for type ${JSON.stringify(type)}`);
  const module = (await import(href)) as { default?: unknown };
  if (!isHandler(module.default)) {
    throw new Error(`${href} must \`export default defineHandler(...)\` (from 'vram-scheduler/worker')`);
  }
  return module.default;
}

/** The batch is over: the handler's `unload()` runs and this thread forgets the model. */
async function unload(type: string): Promise<void> {
  const ready = warm.get(type);
  warm.delete(type);
  if (!ready) return;
  try {
    const { handler, model } = await ready;
    await handler.unload?.(model);
  } catch (error) {
    log.warn({ type, err: error }, 'unloading the model failed');
  }
}

/** VRAM a task grows beyond its batch's lease, tagged with the task so a crash can return it. */
class TaskLease implements TaskVram {
  private lease = -1;
  constructor(
    private readonly message: RunMessage,
    private readonly stop: LazySignal,
  ) {}

  get extraGb(): number {
    return this.lease === -1 ? 0 : ledger.leaseMiB(this.lease) / 1024;
  }

  /** Tries, then sleeps on the ledger's release counter (no polling) until it fits, times out or the task is stopped. */
  async grow(gb: number, { timeoutMs = DEFAULT_GROW_TIMEOUT_MS } = {}): Promise<void> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) throw new TypeError(`ctx.vram.grow(): expected \`timeoutMs\` to be a number of ms >= 0, got ${String(timeoutMs)}`);
    const deadline = Date.now() + timeoutMs;
    const { signal } = this.stop;
    const stopped = aborted(signal); // one listener for the whole wait, however many releases wake it
    for (;;) {
      signal.throwIfAborted();
      const version = ledger.version; // before trying, so a release in between is not missed
      if (this.tryGrow(gb)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new SchedulerError(ErrorCode.VRAM_GROW_TIMEOUT, `ctx.vram.grow(${gb}): ${gb} GB did not become free on ${this.message.device!.id} within ${timeoutMs} ms`);
      await Promise.race([ledger.waitForRelease(left, version), stopped]);
    }
  }

  tryGrow(gb: number): boolean {
    const device = this.message.device;
    if (device === undefined) throw new Error('this task runs in the free lane (gpu: false): it has no VRAM to grow');
    const mib = checkedMiB(gb, 'grow');
    if (this.lease === -1) {
      this.lease = ledger.tryReserve(device.index, mib, this.message.seq);
      return this.lease !== -1;
    }
    return ledger.resize(this.lease, ledger.leaseMiB(this.lease) + mib);
  }

  shrink(gb: number): void {
    if (this.lease === -1) return;
    ledger.resize(this.lease, Math.max(0, ledger.leaseMiB(this.lease) - checkedMiB(gb, 'shrink')));
  }

  releaseAll(): void {
    if (this.lease !== -1) ledger.release(this.lease);
    this.lease = -1;
  }
}

const DEFAULT_GROW_TIMEOUT_MS = 30_000;

/** Settles when `signal` aborts (the loop then throws its reason). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function checkedMiB(gb: number, call: string): number {
  if (typeof gb !== 'number' || !Number.isFinite(gb) || gb < 0) {
    throw new TypeError(`ctx.vram.${call}() expects a finite number of GB >= 0, got ${String(gb)}`);
  }
  return gbToMiB(gb);
}

function failure(code: string, message: string): WorkerReply {
  return { ok: false, error: { code, message } };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
