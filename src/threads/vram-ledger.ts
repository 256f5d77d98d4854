/**
 * The VRAM ledger: the one place that knows how much VRAM is reserved, per device, in MiB.
 * It lives in a SharedArrayBuffer so worker threads attach to the same memory (pass `buffer`
 * in `workerData`: shared, not copied) and a handler that grows its lease is seen at once by
 * the main thread. Atomics only, no messages.
 *
 * Layout (Int32Array over the buffer):
 *   [0] LOCK          0 = free, else owner token = threadId + 1 of the holder
 *   [1] VERSION       incremented (and notified) on every release, shrink and recovery
 *   [2] MAGIC         so `attach` refuses a buffer that is not a ledger
 *   [3] DEVICE_COUNT
 *   [4] SLOT_COUNT
 *   then per device d, at 5 + 3d:        capacityMiB, reservedMiB, externalMiB
 *     (externalMiB: VRAM the GPU monitor saw used outside our leases; not offered to reserves)
 *   then per slot s, at slotsBase + 3s:  deviceIndex + 1 (0 = free slot), mib, tag
 *
 * Every mutation runs under the ledger-wide lock and each critical section is a few
 * loads/stores. A slot's mib and tag are written before the slot is activated, and
 * `reservedMiB` is the cached sum of the active slots of its device. So, read under the lock,
 * every device has reserved <= capacity and reserved == sum of its active slots' mib.
 * A worker thread killed mid-section can leave the lock held or the cache stale: the main
 * thread repairs both with `recoverThread(id)`, then frees the dead task's slots with
 * `releaseTagged(tag)`.
 */
import { threadId } from 'node:worker_threads';

/** Capacity meaning "no GPU: unlimited" (the largest Int32). */
export const LEDGER_UNLIMITED_MIB = 0x7fffffff;
export const LEDGER_DEFAULT_SLOTS = 1024;
/** Word indexes and sizes of the layout above (tests write raw state through them). */
export const LEDGER_LOCK = 0, LEDGER_VERSION = 1, LEDGER_HEADER = 5, LEDGER_DEVICE_WORDS = 3, LEDGER_SLOT_WORDS = 3;
const MAGIC = 2, DEVICE_COUNT = 3, SLOT_COUNT = 4, LEDGER_MAGIC = 0x5652414d /* 'VRAM' */, MAX_SLOTS = 1 << 20;
const INT32_MAX = 0x7fffffff, INT32_MIN = -0x80000000;
/** Spins before parking: a holder leaves within microseconds, parking costs more than that. */
const SPINS = 64;
/** A lock held this long means its holder died: fail loudly instead of hanging the thread. */
const LOCK_STALL_MS = 5_000;

// lib is ES2023: Atomics.waitAsync (Node >= 16) is typed from ES2024 on.
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): WaitAsyncResult }).waitAsync;

/** `capacityMiB` is an Int32; LEDGER_UNLIMITED_MIB means "no GPU: unlimited". */
export interface LedgerDevice { capacityMiB: number }
export interface LedgerLease { lease: number; device: number; mib: number; tag: number }
export interface LedgerSnapshot { devices: { capacityMiB: number; reservedMiB: number }[]; leases: LedgerLease[] }
export type LedgerWaitResult = 'ok' | 'timed-out' | 'not-equal';

const dev = (d: number): number => LEDGER_HEADER + LEDGER_DEVICE_WORDS * d; // capacity word; reserved is +1, external +2

export class VramLedger {
  readonly buffer: SharedArrayBuffer;
  readonly deviceCount: number;
  readonly slotCount: number;
  private readonly i32: Int32Array;
  private readonly slotsBase: number;
  private readonly token = threadId + 1;
  /** Where this thread's next free-slot scan starts: spreads threads over the slots. */
  private cursor = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.deviceCount = Atomics.load(this.i32, DEVICE_COUNT);
    this.slotCount = Atomics.load(this.i32, SLOT_COUNT);
    this.slotsBase = dev(this.deviceCount);
  }

  static create(devices: readonly LedgerDevice[], options: { slots?: number } = {}): VramLedger {
    if (!Array.isArray(devices) || devices.length === 0) {
      throw new RangeError(`VramLedger.create: expected a non-empty array of devices, got ${String(devices)}`);
    }
    const slots = int('create', 'options.slots', options.slots ?? LEDGER_DEFAULT_SLOTS, 1, MAX_SLOTS);
    const i32 = new Int32Array(new SharedArrayBuffer(4 * (dev(devices.length) + LEDGER_SLOT_WORDS * slots)));
    devices.forEach((d, i) => (i32[dev(i)] = int('create', `devices[${i}].capacityMiB`, d?.capacityMiB, 0, INT32_MAX)));
    i32[DEVICE_COUNT] = devices.length;
    i32[SLOT_COUNT] = slots;
    Atomics.store(i32, MAGIC, LEDGER_MAGIC);
    return new VramLedger(i32.buffer as SharedArrayBuffer);
  }

  static attach(buffer: SharedArrayBuffer): VramLedger {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('VramLedger.attach: expected a SharedArrayBuffer (pass it in workerData, not a transferList)');
    }
    const i32 = new Int32Array(buffer);
    if (i32.length < LEDGER_HEADER || Atomics.load(i32, MAGIC) !== LEDGER_MAGIC ||
      i32.length !== dev(i32[DEVICE_COUNT]!) + LEDGER_SLOT_WORDS * i32[SLOT_COUNT]!) {
      throw new TypeError('VramLedger.attach: this SharedArrayBuffer is not a VRAM ledger');
    }
    return new VramLedger(buffer);
  }

  /** Bumped on every release/shrink: read it before a failed tryReserve, pass it to waitForRelease. */
  get version(): number { return Atomics.load(this.i32, LEDGER_VERSION); }
  capacity(device: number): number { return Atomics.load(this.i32, this.device(device, 'capacity')); }
  reserved(device: number): number { return Atomics.load(this.i32, this.device(device, 'reserved') + 1); }
  /** VRAM used outside the scheduler (set by the GPU monitor), kept out of what reserves may take. */
  external(device: number): number { return Atomics.load(this.i32, this.device(device, 'external') + 2); }
  /** Lock-free: what a reserve may take now, within [0, capacity]. */
  free(device: number): number { return Math.max(0, this.capacity(device) - this.reserved(device) - this.external(device)); }

  /**
   * Sets the VRAM used outside the scheduler on `device`. It never takes back a lease: it only
   * stops new reserves and growth from using that VRAM. Less than before wakes waiters.
   */
  setExternal(device: number, mib: number): void {
    const d = this.device(device, 'setExternal');
    int('setExternal', 'mib', mib, 0, INT32_MAX);
    this.lock();
    let less = false;
    try {
      less = mib < Atomics.exchange(this.i32, d + 2, mib);
    } finally {
      this.unlock(less);
    }
  }

  /** Reserve `mib` on `device` if it fits; returns a lease handle (slot index >= 0), or -1 when it does not fit or no slot is free. */
  tryReserve(device: number, mib: number, tag: number): number {
    const d = this.device(device, 'tryReserve');
    int('tryReserve', 'mib', mib, 0, INT32_MAX);
    int('tryReserve', 'tag', tag, INT32_MIN, INT32_MAX);
    const i = this.i32;
    for (;;) {
      // Scan for a free slot outside the lock (the long part), re-check it inside.
      const slot = this.findFreeSlot();
      if (slot < 0) return -1;
      const s = this.slotsBase + LEDGER_SLOT_WORDS * slot;
      this.lock();
      try {
        if (Atomics.load(i, s) !== 0) continue; // another thread took it: scan again
        const reserved = Atomics.load(i, d + 1);
        if (reserved + Atomics.load(i, d + 2) + mib > Atomics.load(i, d)) return -1;
        Atomics.store(i, s + 1, mib);
        Atomics.store(i, s + 2, tag);
        Atomics.store(i, s, device + 1); // activate last: a half-written slot is never live
        Atomics.store(i, d + 1, reserved + mib);
        this.cursor = slot + 1;
        return slot;
      } finally {
        this.unlock(false);
      }
    }
  }

  /** Grow or shrink a live lease to `mib`. Shrinking always succeeds; growing only if the extra fits. */
  resize(lease: number, mib: number): boolean {
    int('resize', 'mib', mib, 0, INT32_MAX);
    const i = this.i32;
    let shrunk = false;
    this.lock();
    try {
      const s = this.live(lease, 'resize');
      const d = dev(Atomics.load(i, s) - 1);
      const old = Atomics.load(i, s + 1);
      const reserved = Atomics.load(i, d + 1);
      if (mib > old && reserved + Atomics.load(i, d + 2) + (mib - old) > Atomics.load(i, d)) return false;
      Atomics.store(i, s + 1, mib);
      Atomics.store(i, d + 1, reserved + mib - old);
      shrunk = mib < old;
      return true;
    } finally {
      this.unlock(shrunk);
    }
  }

  /** Return a live lease's VRAM. Releasing a free slot is a bug (double release): RangeError. */
  release(lease: number): void {
    this.lock();
    try {
      this.clear(this.live(lease, 'release'));
    } finally {
      this.unlock(true); // a spurious bump after a bad call only wakes waiters to re-check
    }
  }

  /** Free every live lease carrying `tag` (after a worker crash: exactly what that task held). Returns the MiB freed. */
  releaseTagged(tag: number): number {
    int('releaseTagged', 'tag', tag, INT32_MIN, INT32_MAX);
    const i = this.i32;
    let freed = 0, count = 0;
    this.lock(); // a full scan under the lock: fine on this rare (crash) path
    try {
      for (let s = this.slotsBase; s < i.length; s += LEDGER_SLOT_WORDS) {
        const d = Atomics.load(i, s);
        if (d === 0 || Atomics.load(i, s + 2) !== tag) continue;
        freed += this.clear(s);
        count++;
      }
      return freed;
    } finally {
      this.unlock(count > 0); // a freed slot counts even at 0 MiB: it may unblock a reserve
    }
  }

  /** Lock-free reads of a live lease (RangeError for a free slot). */
  leaseMiB(lease: number): number { return Atomics.load(this.i32, this.live(lease, 'leaseMiB') + 1); }
  leaseTag(lease: number): number { return Atomics.load(this.i32, this.live(lease, 'leaseTag') + 2); }
  leaseDevice(lease: number): number { return Atomics.load(this.i32, this.live(lease, 'leaseDevice')) - 1; }

  /**
   * Resolves when the version word changes (something was released or shrunk), or after
   * `timeoutMs`. Pass `sinceVersion` (read before the failed tryReserve) so a release that
   * lands in between is not missed: it then resolves 'not-equal' at once.
   */
  waitForRelease(timeoutMs = Infinity, sinceVersion?: number): Promise<LedgerWaitResult> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new RangeError(`VramLedger.waitForRelease: expected \`timeoutMs\` to be a number >= 0, got ${String(timeoutMs)}`);
    }
    const r = waitAsync(this.i32, LEDGER_VERSION, sinceVersion ?? this.version, timeoutMs);
    return r.async ? r.value : Promise.resolve(r.value);
  }

  /** Wakes every waitForRelease caller (e.g. a watcher that should notice its scheduler closed). */
  wakeWaiters(): void {
    Atomics.add(this.i32, LEDGER_VERSION, 1);
    Atomics.notify(this.i32, LEDGER_VERSION);
  }

  /** A consistent view, taken under the lock. */
  snapshot(): LedgerSnapshot {
    const i = this.i32;
    this.lock();
    try {
      const devices = Array.from({ length: this.deviceCount }, (_, d) =>
        ({ capacityMiB: Atomics.load(i, dev(d)), reservedMiB: Atomics.load(i, dev(d) + 1) }));
      const leases: LedgerLease[] = [];
      for (let lease = 0; lease < this.slotCount; lease++) {
        const s = this.slotsBase + LEDGER_SLOT_WORDS * lease;
        const d = Atomics.load(i, s);
        if (d !== 0) leases.push({ lease, device: d - 1, mib: Atomics.load(i, s + 1), tag: Atomics.load(i, s + 2) });
      }
      return { devices, leases };
    } finally {
      this.unlock(false);
    }
  }

  /**
   * Repair after thread `id` died. Call it from the Worker's 'exit' handler with an id
   * captured earlier: `worker.threadId` reads -1 once the worker has exited. Takes over the
   * lock if the dead thread held it, then recomputes every device's reserved from the active
   * slots. Never call it for a live thread: it would break into that thread's section.
   */
  recoverThread(id: number): void {
    int('recoverThread', 'threadId', id, 0, INT32_MAX - 1);
    const i = this.i32;
    if (Atomics.compareExchange(i, LEDGER_LOCK, id + 1, this.token) !== id + 1) this.lock();
    try {
      const sums = new Array<number>(this.deviceCount).fill(0);
      for (let s = this.slotsBase; s < i.length; s += LEDGER_SLOT_WORDS) {
        const d = Atomics.load(i, s);
        if (d !== 0) sums[d - 1]! += Atomics.load(i, s + 1);
      }
      sums.forEach((sum, d) => Atomics.store(i, dev(d) + 1, sum));
    } finally {
      this.unlock(true);
    }
  }

  private lock(): void {
    let deadline = 0;
    for (let n = 0; ; n++) {
      const holder = Atomics.compareExchange(this.i32, LEDGER_LOCK, 0, this.token);
      if (holder === 0) return;
      if (n < SPINS) continue;
      Atomics.wait(this.i32, LEDGER_LOCK, holder, 1); // Node allows this on the main thread too
      if (deadline === 0) deadline = Date.now() + LOCK_STALL_MS;
      else if (Date.now() > deadline) {
        throw new Error(`VRAM ledger lock held by thread ${holder - 1} for over ${LOCK_STALL_MS} ms: ` +
          `if that worker died, call recoverThread(${holder - 1})`);
      }
    }
  }

  /** Frees the lock; `bump` also publishes "VRAM was returned" to waitForRelease callers. */
  private unlock(bump: boolean): void {
    Atomics.store(this.i32, LEDGER_LOCK, 0);
    Atomics.notify(this.i32, LEDGER_LOCK, 1);
    if (bump) {
      Atomics.add(this.i32, LEDGER_VERSION, 1);
      Atomics.notify(this.i32, LEDGER_VERSION);
    }
  }

  private findFreeSlot(): number {
    for (let k = 0; k < this.slotCount; k++) {
      const slot = (this.cursor + k) % this.slotCount;
      if (Atomics.load(this.i32, this.slotsBase + LEDGER_SLOT_WORDS * slot) === 0) return slot;
    }
    return -1;
  }

  private device(d: number, call: string): number { return dev(int(call, 'device', d, 0, this.deviceCount - 1)); }
  /** The first word of a live lease's slot; RangeError for a bad handle or a free slot. */
  private live(lease: number, call: string): number {
    const s = this.slotsBase + LEDGER_SLOT_WORDS * int(call, 'lease', lease, 0, this.slotCount - 1);
    if (Atomics.load(this.i32, s) === 0) throw new RangeError(`VramLedger.${call}: lease ${lease} is not live (already released?)`);
    return s;
  }
  /** Deactivate a live slot and take its MiB off its device (caller holds the lock). */
  private clear(s: number): number {
    const i = this.i32, mib = Atomics.load(i, s + 1);
    Atomics.sub(i, dev(Atomics.exchange(i, s, 0) - 1) + 1, mib);
    return mib;
  }
}

function int(call: string, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`VramLedger.${call}: expected \`${name}\` to be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`VramLedger.${call}: expected \`${name}\` to be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}
