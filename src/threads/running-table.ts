/**
 * Which run each free-lane thread is executing, in shared memory. A free-lane thread is handed
 * several tasks and runs them one at a time, so when it dies the main thread must tell the one
 * it was running (that attempt counts) from the ones still waiting behind it (they go back in
 * line, their attempt not spent), and a hard stop must find the thread to terminate.
 * The worker writes the slot, the main thread only reads it: no lock is needed.
 */

/** Slots, indexed by threadId modulo this: a slot is reused only after this many more threads were made. */
const SLOTS = 1024;

export class RunningTable {
  /** Per slot: [threadId, run] (run 0 = none). */
  private readonly slots: Int32Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.slots = new Int32Array(buffer);
  }

  static create(): RunningTable {
    return new RunningTable(new SharedArrayBuffer(SLOTS * 2 * Int32Array.BYTES_PER_ELEMENT));
  }

  static attach(buffer: SharedArrayBuffer): RunningTable {
    return new RunningTable(buffer);
  }

  /** Worker: `threadId` starts `run`'s handler. */
  begin(threadId: number, run: number): void {
    const slot = (threadId % SLOTS) * 2;
    Atomics.store(this.slots, slot, threadId);
    Atomics.store(this.slots, slot + 1, run);
  }

  /** Worker: `threadId`'s handler is done (its reply follows). */
  end(threadId: number): void {
    Atomics.store(this.slots, (threadId % SLOTS) * 2 + 1, 0);
  }

  /** Main: the thread whose handler is executing `run` (or was, when it died), else undefined. */
  threadOf(run: number): number | undefined {
    for (let slot = 0; slot < this.slots.length; slot += 2) {
      if (Atomics.load(this.slots, slot + 1) === run) return Atomics.load(this.slots, slot);
    }
    return undefined;
  }

  /** Main: forget a dead thread's run once its outcome is settled, so the slot cannot match it again. */
  forget(run: number): void {
    for (let slot = 0; slot < this.slots.length; slot += 2) {
      if (Atomics.load(this.slots, slot + 1) === run) Atomics.store(this.slots, slot + 1, 0);
    }
  }
}
