import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  LEDGER_DEFAULT_SLOTS,
  LEDGER_DEVICE_WORDS,
  LEDGER_HEADER,
  LEDGER_LOCK,
  LEDGER_SLOT_WORDS,
  LEDGER_UNLIMITED_MIB,
  LEDGER_VERSION,
  VramLedger,
} from '../../src/threads/vram-ledger.js';

const twoCards = () => VramLedger.create([{ capacityMiB: 1000 }, { capacityMiB: 500 }]);

describe('VramLedger: reserve', () => {
  it('reserves within capacity and refuses beyond it, per device', () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 600, 1);
    const b = ledger.tryReserve(0, 400, 2);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(a).not.toBe(b);
    expect(ledger.reserved(0)).toBe(1000);
    expect(ledger.free(0)).toBe(0);
    expect(ledger.tryReserve(0, 1, 3)).toBe(-1); // full: refused, nothing written
    expect(ledger.reserved(0)).toBe(1000);
    expect(ledger.tryReserve(1, 501, 3)).toBe(-1); // device 1 is separate and smaller
    expect(ledger.tryReserve(1, 500, 3)).toBeGreaterThanOrEqual(0);
    expect(ledger.reserved(1)).toBe(500);
    expect(ledger.leaseMiB(a)).toBe(600);
    expect(ledger.leaseDevice(a)).toBe(0);
    expect(ledger.leaseTag(b)).toBe(2);
  });

  it('allows zero-MiB leases and never refuses on an unlimited device until slots run out', () => {
    const ledger = VramLedger.create([{ capacityMiB: LEDGER_UNLIMITED_MIB }], { slots: 3 });
    expect(ledger.tryReserve(0, 0, 0)).toBeGreaterThanOrEqual(0);
    expect(ledger.tryReserve(0, 2_000_000_000, 0)).toBeGreaterThanOrEqual(0);
    expect(ledger.tryReserve(0, LEDGER_UNLIMITED_MIB - 2_000_000_000, 0)).toBeGreaterThanOrEqual(0);
    expect(ledger.reserved(0)).toBe(LEDGER_UNLIMITED_MIB);
    expect(ledger.free(0)).toBe(0);
  });

  it('returns -1 when every slot is taken, and reuses a slot once one is released', () => {
    const ledger = VramLedger.create([{ capacityMiB: 10_000 }], { slots: 2 });
    const a = ledger.tryReserve(0, 10, 1);
    const b = ledger.tryReserve(0, 10, 1);
    expect([a, b].sort()).toEqual([0, 1]);
    expect(ledger.tryReserve(0, 10, 1)).toBe(-1);
    expect(ledger.reserved(0)).toBe(20);
    ledger.release(a);
    expect(ledger.tryReserve(0, 10, 1)).toBe(a);
  });

  it('defaults to 1024 slots', () => {
    const ledger = VramLedger.create([{ capacityMiB: LEDGER_UNLIMITED_MIB }]);
    expect(ledger.slotCount).toBe(LEDGER_DEFAULT_SLOTS);
    for (let n = 0; n < LEDGER_DEFAULT_SLOTS; n++) expect(ledger.tryReserve(0, 1, n)).toBeGreaterThanOrEqual(0);
    expect(ledger.tryReserve(0, 1, 0)).toBe(-1);
    expect(ledger.snapshot().leases).toHaveLength(LEDGER_DEFAULT_SLOTS);
  });
});

describe('VramLedger: resize and release', () => {
  it('grows only when the extra fits, shrinks always', () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 300, 1);
    ledger.tryReserve(0, 500, 2);
    expect(ledger.resize(a, 500)).toBe(true);
    expect(ledger.reserved(0)).toBe(1000);
    expect(ledger.resize(a, 501)).toBe(false);
    expect(ledger.leaseMiB(a)).toBe(500);
    expect(ledger.reserved(0)).toBe(1000);
    expect(ledger.resize(a, 0)).toBe(true);
    expect(ledger.leaseMiB(a)).toBe(0);
    expect(ledger.reserved(0)).toBe(500);
    expect(ledger.resize(a, 500)).toBe(true); // back to the same size
    expect(ledger.resize(a, 500)).toBe(true); // no-op resize
    expect(ledger.reserved(0)).toBe(1000);
  });

  it('release returns the VRAM; releasing twice is a RangeError', () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(1, 200, 7);
    ledger.release(a);
    expect(ledger.reserved(1)).toBe(0);
    expect(ledger.free(1)).toBe(500);
    expect(() => ledger.release(a)).toThrow(RangeError);
    expect(() => ledger.resize(a, 1)).toThrow(/not live/);
    expect(() => ledger.leaseMiB(a)).toThrow(RangeError);
  });

  it('releaseTagged frees exactly the leases with that tag, on every device', () => {
    const ledger = twoCards();
    ledger.tryReserve(0, 100, 42);
    ledger.tryReserve(1, 50, 42);
    const other = ledger.tryReserve(0, 70, 43);
    ledger.tryReserve(0, 0, 42);
    expect(ledger.releaseTagged(42)).toBe(150);
    expect(ledger.reserved(0)).toBe(70);
    expect(ledger.reserved(1)).toBe(0);
    expect(ledger.snapshot().leases).toEqual([{ lease: other, device: 0, mib: 70, tag: 43 }]);
    expect(ledger.releaseTagged(42)).toBe(0);
    expect(ledger.releaseTagged(-5)).toBe(0);
  });
});

describe('VramLedger: waitForRelease', () => {
  it('resolves ok after a release, and times out when nothing is released', async () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 1000, 1);
    expect(await ledger.waitForRelease(5)).toBe('timed-out');
    const waiting = ledger.waitForRelease(10_000);
    ledger.release(a);
    expect(await waiting).toBe('ok');
    expect(ledger.tryReserve(0, 1000, 2)).toBeGreaterThanOrEqual(0);
  });

  it('a release between a failed reserve and the wait is not lost (sinceVersion)', async () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 1000, 1);
    const seen = ledger.version;
    expect(ledger.tryReserve(0, 10, 2)).toBe(-1);
    ledger.release(a); // lands before the wait starts
    expect(await ledger.waitForRelease(10_000, seen)).toBe('not-equal');
  });

  it('a shrink and a releaseTagged also wake waiters; a refused grow does not bump the version', async () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 800, 1);
    const v0 = ledger.version;
    expect(ledger.resize(a, 2000)).toBe(false);
    expect(ledger.resize(a, 900)).toBe(true);
    expect(ledger.version).toBe(v0);
    const shrink = ledger.waitForRelease(10_000);
    ledger.resize(a, 100);
    expect(await shrink).toBe('ok');
    const tagged = ledger.waitForRelease(10_000);
    ledger.releaseTagged(1);
    expect(await tagged).toBe('ok');
    expect(ledger.reserved(0)).toBe(0);
  });
});

describe('VramLedger: argument validation', () => {
  it('rejects bad devices, sizes, tags and handles with RangeError/TypeError', () => {
    const ledger = twoCards();
    expect(() => ledger.tryReserve(2, 1, 0)).toThrow(RangeError);
    expect(() => ledger.tryReserve(-1, 1, 0)).toThrow(/`device` to be an integer in \[0, 1\]/);
    expect(() => ledger.tryReserve(0.5, 1, 0)).toThrow(RangeError);
    expect(() => ledger.tryReserve(0, -1, 0)).toThrow(/`mib`/);
    expect(() => ledger.tryReserve(0, 1.5, 0)).toThrow(RangeError);
    expect(() => ledger.tryReserve(0, NaN, 0)).toThrow(RangeError);
    expect(() => ledger.tryReserve(0, 2 ** 31, 0)).toThrow(RangeError);
    expect(() => ledger.tryReserve(0, '1' as unknown as number, 0)).toThrow(TypeError);
    expect(() => ledger.tryReserve(0, 1, 2 ** 31)).toThrow(/`tag`/);
    expect(() => ledger.resize(ledger.slotCount, 1)).toThrow(/`lease`/);
    expect(() => ledger.release(-1)).toThrow(RangeError);
    expect(() => ledger.capacity(9)).toThrow(RangeError);
    expect(() => ledger.waitForRelease(-1)).toThrow(RangeError);
    expect(() => ledger.recoverThread(-1)).toThrow(RangeError);
    expect(ledger.snapshot().leases).toEqual([]); // nothing was written by the refused calls
  });

  it('create validates devices and slots; attach refuses foreign buffers', () => {
    expect(() => VramLedger.create([])).toThrow(RangeError);
    expect(() => VramLedger.create([{ capacityMiB: -1 }])).toThrow(/capacityMiB/);
    expect(() => VramLedger.create([{ capacityMiB: 2 ** 31 }])).toThrow(RangeError);
    expect(() => VramLedger.create([{ capacityMiB: 1 }], { slots: 0 })).toThrow(/options.slots/);
    expect(() => VramLedger.attach(new ArrayBuffer(64) as unknown as SharedArrayBuffer)).toThrow(TypeError);
    expect(() => VramLedger.attach(new SharedArrayBuffer(64))).toThrow(/not a VRAM ledger/);
    const ledger = twoCards();
    const again = VramLedger.attach(ledger.buffer);
    const a = again.tryReserve(1, 123, 5);
    expect(ledger.reserved(1)).toBe(123); // same memory, not a copy
    expect(ledger.leaseMiB(a)).toBe(123);
  });
});

describe('VramLedger: snapshot and recovery', () => {
  it('snapshot has devices and active leases', () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 10, 1);
    const b = ledger.tryReserve(1, 20, 2);
    expect(ledger.snapshot()).toEqual({
      devices: [
        { capacityMiB: 1000, reservedMiB: 10 },
        { capacityMiB: 500, reservedMiB: 20 },
      ],
      leases: [
        { lease: a, device: 0, mib: 10, tag: 1 },
        { lease: b, device: 1, mib: 20, tag: 2 },
      ],
    });
  });

  it('recoverThread takes over a lock held by a dead thread and repairs a half-written state', () => {
    const ledger = twoCards();
    ledger.tryReserve(0, 100, 1);
    const i32 = new Int32Array(ledger.buffer);
    const deadThread = threadId + 41;
    const slotsBase = LEDGER_HEADER + LEDGER_DEVICE_WORDS * ledger.deviceCount;
    // The dead thread held the lock and died inside tryReserve after activating slot 5
    // (200 MiB on device 1, tag 9) but before adding it to reserved.
    Atomics.store(i32, LEDGER_LOCK, deadThread + 1);
    const s = slotsBase + LEDGER_SLOT_WORDS * 5;
    Atomics.store(i32, s + 1, 200);
    Atomics.store(i32, s + 2, 9);
    Atomics.store(i32, s, 2);
    // ...and had half-released another lease of device 0: slot cleared, reserved not yet lowered.
    Atomics.store(i32, LEDGER_HEADER + 1, 100 + 55);
    const v0 = ledger.version;

    ledger.recoverThread(deadThread);
    expect(Atomics.load(i32, LEDGER_LOCK)).toBe(0);
    expect(Atomics.load(i32, LEDGER_VERSION)).not.toBe(v0);
    const snap = ledger.snapshot(); // would stall if the lock were still held
    expect(snap.devices.map((d) => d.reservedMiB)).toEqual([100, 200]);
    expect(snap.leases).toContainEqual({ lease: 5, device: 1, mib: 200, tag: 9 });
    expect(ledger.releaseTagged(9)).toBe(200); // the crashed task's VRAM comes back exactly
    expect(ledger.reserved(1)).toBe(0);
  });

  it('recoverThread for a thread that did not hold the lock only recomputes', () => {
    const ledger = twoCards();
    const a = ledger.tryReserve(0, 300, 1);
    const i32 = new Int32Array(ledger.buffer);
    Atomics.store(i32, LEDGER_HEADER + 1, 999); // stale cache
    ledger.recoverThread(threadId + 77);
    expect(ledger.reserved(0)).toBe(300);
    ledger.release(a);
    expect(ledger.reserved(0)).toBe(0);
  });
});
