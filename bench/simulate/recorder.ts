/** What a simulation run observed: per-task waits, model loads, VRAM held over time. */
import type { TaskSpec } from './model.js';

export interface TaskTimes {
  task: TaskSpec;
  /** When a batch (or slot) took the task: the moment the real scheduler records as `startedAt`. */
  startedMs: number;
  finishedMs?: number;
}

export class Recorder {
  readonly starts: TaskTimes[] = [];
  private readonly byId = new Map<number, TaskTimes>();
  loads = 0;
  /** ∫ reserved VRAM dt and ∫ VRAM held by leases with work in flight dt, in MiB·ms, from 0 to `lastTaskEnd`. */
  reservedArea = 0;
  busyArea = 0;
  private reservedSoFar = 0;
  private busySoFar = 0;
  private busyMiB = 0;
  private lastAt = 0;
  lastTaskEnd = 0;
  /** Why batches ended (batched strategies): drained, idle, yielded, evicted. */
  readonly batchEnds = new Map<string, number>();
  /** Dispatches at which decide() held the line for a starved type. */
  holds = 0;
  /** Batches that yielded at their quantum and whose type won the VRAM straight back (a reload for nothing). */
  yieldsRewon = 0;
  /** Starts decide() proposed that the ledger refused (the real supervisor skips them too). */
  refusedStarts = 0;
  /** Longest time a type had queued work and no batch before its batch started (batched strategies). */
  readonly longestTurnWait = new Map<string, number>();

  started(task: TaskSpec, now: number): void {
    const times = { task, startedMs: now };
    this.starts.push(times);
    this.byId.set(task.id, times);
  }

  finished(task: TaskSpec, now: number): void {
    this.byId.get(task.id)!.finishedMs = now;
    this.lastTaskEnd = Math.max(this.lastTaskEnd, now);
    // advance(now) ran before this event: the integrals reach exactly the latest task end.
    this.reservedArea = this.reservedSoFar;
    this.busyArea = this.busySoFar;
  }

  modelLoaded(): void {
    this.loads++;
  }

  /** A lease of `mib` started (+) or stopped (−) having work in flight (loading or running). */
  busy(deltaMiB: number): void {
    this.busyMiB += deltaMiB;
  }

  batchEnded(reason: string): void {
    this.batchEnds.set(reason, (this.batchEnds.get(reason) ?? 0) + 1);
  }

  turnWaited(type: string, ms: number): void {
    this.longestTurnWait.set(type, Math.max(this.longestTurnWait.get(type) ?? 0, ms));
  }

  /** Integrates what was held since the previous event, up to `at`. */
  advance(at: number, reservedMiB: number): void {
    const dt = at - this.lastAt;
    this.reservedSoFar += reservedMiB * dt;
    this.busySoFar += this.busyMiB * dt;
    this.lastAt = at;
  }
}
