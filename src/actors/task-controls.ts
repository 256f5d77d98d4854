/**
 * The running tasks a caller can still stop. cancel(), timeouts and preemption abort the task's
 * `ctx.signal` in its worker (over a BroadcastChannel every worker of this scheduler listens
 * on); if the handler has not settled after the grace period, its thread is terminated
 * (see LaneThreads; the ledger then takes back whatever that thread held).
 * Handlers' checkpoints come back on the same channel, so one saved before a hard stop is kept.
 */
import { BroadcastChannel } from 'node:worker_threads';

export type StopReason = 'cancelled' | 'timeout' | 'preempted';

/** Main → workers: abort this task's ctx.signal. Workers → main: the state a preempted handler saved. */
export type ControlMessage = { op: 'abort'; taskId: string; reason: StopReason } | { op: 'checkpoint'; taskId: string; state: unknown };

/** What a task's run listens to: the request to stop, and the hard stop after the grace period. */
export interface TaskStops {
  /** Fires when the task is asked to stop: its lane then withdraws it from the board if no thread has taken it. */
  readonly asked: StopTrigger;
  /** Aborting it terminates the task's thread: the last resort after the grace period. */
  readonly hardStop: StopTrigger;
}

export interface TaskControl extends TaskStops {
  /** Set once the task was asked to stop. */
  reason: StopReason | undefined;
  /** The last state its handler saved with ctx.checkpoint(), if any. */
  checkpoint?: { state: unknown };
}

/**
 * A one-listener event target for a task's stops, in place of an AbortController per task, whose
 * signal costs more than the rest of a task's bookkeeping, for stops that are almost never used.
 */
export class StopTrigger {
  aborted = false;
  reason: unknown;
  private listener: (() => void) | undefined;

  addEventListener(_name: 'abort', listener: () => void): void {
    this.listener = listener;
  }

  removeEventListener(_name: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }
}

interface Entry {
  type: string;
  control: TaskControl;
  timers: NodeJS.Timeout[];
}

export class TaskControls {
  private readonly running = new Map<string, Entry>();
  private readonly channel: BroadcastChannel;

  constructor(
    readonly channelName: string,
    private readonly graceMs: number,
  ) {
    this.channel = new BroadcastChannel(channelName);
    this.channel.onmessage = (event) => {
      const message = (event as { data: ControlMessage }).data;
      const entry = message.op === 'checkpoint' ? this.running.get(message.taskId) : undefined;
      if (entry && message.op === 'checkpoint') entry.control.checkpoint = { state: message.state };
    };
    this.channel.unref();
  }

  /** A task is about to start; with `timeoutMs` > 0 it is stopped with 'timeout' after that long. */
  begin(id: string, type: string, timeoutMs: number): TaskControl {
    const entry: Entry = { type, control: { reason: undefined, asked: new StopTrigger(), hardStop: new StopTrigger() }, timers: [] };
    this.running.set(id, entry);
    if (timeoutMs > 0) entry.timers.push(setTimeout(() => this.stop(id, 'timeout'), timeoutMs));
    return entry.control;
  }

  /** Asks a running task to stop; false when it is not running. */
  stop(id: string, reason: StopReason): boolean {
    const entry = this.running.get(id);
    if (!entry) return false;
    if (entry.control.reason !== undefined) {
      // A cancel or timeout while being preempted ends the task instead of requeueing it.
      if (entry.control.reason === 'preempted' && reason !== 'preempted') entry.control.reason = reason;
      return true;
    }
    entry.control.reason = reason;
    entry.control.asked.abort(reason);
    this.channel.postMessage({ op: 'abort', taskId: id, reason } satisfies ControlMessage);
    entry.timers.push(setTimeout(() => entry.control.hardStop.abort(reason), this.graceMs));
    return true;
  }

  /** Asks every running task of `type` to stop (preemption of its batch: one batch per type). */
  stopType(type: string, reason: StopReason): void {
    for (const [id, entry] of this.running) if (entry.type === type) this.stop(id, reason);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  end(id: string): void {
    const entry = this.running.get(id);
    if (!entry) return;
    for (const timer of entry.timers) clearTimeout(timer);
    this.running.delete(id);
  }

  close(): void {
    this.channel.close();
  }
}
