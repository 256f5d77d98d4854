/**
 * Model-based test of the ledger (single thread): every command runs on the real ledger and
 * on a plain Map of leases; after each one, the two must agree on every decision and every
 * number, and Promise 1 (reserved <= capacity, reserved == sum of leases) must hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LEDGER_UNLIMITED_MIB, VramLedger } from '../../src/threads/vram-ledger.js';
import { runs } from '../support/fast-check-setup.js';

interface ModelLease { device: number; mib: number; tag: number }
interface Model { capacities: number[]; slots: number; leases: Map<number, ModelLease> }
type Cmd = fc.Command<Model, VramLedger>;

const reservedIn = (m: Model, device: number): number =>
  [...m.leases.values()].filter((l) => l.device === device).reduce((sum, l) => sum + l.mib, 0);

/**
 * A size is chosen at run time from the model state: an absolute MiB, or relative to what is
 * free (free - 1, free, free + 1...) so the fit boundary is hit often, not by luck.
 */
type Size = { abs: number } | { free: number } | { grow: number };
const sizeOf = (size: Size, m: Model, device: number, old = 0): number => {
  const free = m.capacities[device]! - reservedIn(m, device);
  const v = 'abs' in size ? size.abs : 'free' in size ? old + free + size.free : old + size.grow;
  return Math.min(Math.max(v, 0), 2 ** 31 - 1);
};
const showSize = (s: Size) => ('abs' in s ? `${s.abs}` : 'free' in s ? `free${s.free >= 0 ? '+' : ''}${s.free}` : `old+${s.grow}`);

/** Picks a live lease deterministically from an arbitrary index (commands are generated before the run). */
const pickLease = (m: Model, pick: number): number => {
  const keys = [...m.leases.keys()].sort((a, b) => a - b);
  return keys[pick % keys.length]!;
};

function checkAgreement(m: Model, r: VramLedger): void {
  const snap = r.snapshot();
  snap.devices.forEach((d, device) => {
    expect(d.capacityMiB).toBe(m.capacities[device]);
    expect(d.reservedMiB).toBeLessThanOrEqual(d.capacityMiB);
    expect(d.reservedMiB).toBe(reservedIn(m, device));
    expect(d.reservedMiB).toBe(snap.leases.filter((l) => l.device === device).reduce((s, l) => s + l.mib, 0));
    expect(r.reserved(device)).toBe(d.reservedMiB);
  });
  const expected = [...m.leases].map(([lease, l]) => ({ lease, ...l })).sort((a, b) => a.lease - b.lease);
  expect(snap.leases).toEqual(expected);
}

class Reserve implements Cmd {
  constructor(readonly device: number, readonly size: Size, readonly tag: number) {}
  check = () => true;
  run(m: Model, r: VramLedger): void {
    const device = this.device % m.capacities.length;
    const mib = sizeOf(this.size, m, device);
    const fits = reservedIn(m, device) + mib <= m.capacities[device]! && m.leases.size < m.slots;
    const lease = r.tryReserve(device, mib, this.tag);
    expect(lease >= 0).toBe(fits);
    if (lease >= 0) {
      expect(m.leases.has(lease)).toBe(false);
      expect(r.leaseDevice(lease)).toBe(device);
      m.leases.set(lease, { device, mib, tag: this.tag });
    }
    checkAgreement(m, r);
  }
  toString = () => `reserve(${this.device}, ${showSize(this.size)}, tag ${this.tag})`;
}

class Resize implements Cmd {
  constructor(readonly pick: number, readonly size: Size) {}
  check = (m: Readonly<Model>) => m.leases.size > 0;
  run(m: Model, r: VramLedger): void {
    const lease = pickLease(m, this.pick);
    const l = m.leases.get(lease)!;
    const mib = sizeOf(this.size, m, l.device, l.mib);
    const fits = mib <= l.mib || reservedIn(m, l.device) + mib - l.mib <= m.capacities[l.device]!;
    expect(r.resize(lease, mib)).toBe(fits);
    if (fits) l.mib = mib;
    expect(r.leaseMiB(lease)).toBe(l.mib);
    checkAgreement(m, r);
  }
  toString = () => `resize(#${this.pick}, ${showSize(this.size)})`;
}

class Release implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.leases.size > 0;
  run(m: Model, r: VramLedger): void {
    const lease = pickLease(m, this.pick);
    r.release(lease);
    m.leases.delete(lease);
    expect(() => r.release(lease)).toThrow(RangeError); // double release is caught, and changes nothing
    checkAgreement(m, r);
  }
  toString = () => `release(#${this.pick})`;
}

class ReleaseTagged implements Cmd {
  constructor(readonly tag: number) {}
  check = () => true;
  run(m: Model, r: VramLedger): void {
    let expected = 0;
    for (const [lease, l] of m.leases) {
      if (l.tag !== this.tag) continue;
      expected += l.mib;
      m.leases.delete(lease);
    }
    expect(r.releaseTagged(this.tag)).toBe(expected);
    checkAgreement(m, r);
  }
  toString = () => `releaseTagged(${this.tag})`;
}

const capacity = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 1, arbitrary: fc.constant(LEDGER_UNLIMITED_MIB) },
);
// Sizes that contend for a card, 0, huge ones that only an unlimited device takes, and sizes
// at the fit boundary (free - 2 .. free + 2) or a small step from the lease's current size.
const size: fc.Arbitrary<Size> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 2048 }).map((abs) => ({ abs })) },
  { weight: 1, arbitrary: fc.constant({ abs: 0 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2 ** 30, max: 2 ** 31 - 1 }).map((abs) => ({ abs })) },
  { weight: 3, arbitrary: fc.integer({ min: -2, max: 2 }).map((free) => ({ free })) },
  { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }).map((grow) => ({ grow })) },
);
const tag = fc.integer({ min: -1, max: 3 }); // few tags, so releaseTagged often frees several leases

const commands = fc.commands(
  [
    fc.tuple(fc.nat(2), size, tag).map(([d, s, t]) => new Reserve(d, s, t)),
    fc.tuple(fc.nat(), size).map(([p, s]) => new Resize(p, s)),
    fc.nat().map((p) => new Release(p)),
    tag.map((t) => new ReleaseTagged(t)),
  ],
  { size: '+1' },
);

describe('VramLedger against a model', () => {
  it('agrees with a Map of leases on every decision and every number', () => {
    fc.assert(
      fc.property(
        fc.array(capacity, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 12 }),
        commands,
        (capacities, slots, cmds) => {
          const model: Model = { capacities, slots, leases: new Map() };
          const real = VramLedger.create(capacities.map((capacityMiB) => ({ capacityMiB })), { slots });
          fc.modelRun(() => ({ model, real }), cmds);
          // Promise 6 in miniature: releasing the tags still held returns every MiB.
          for (const t of new Set([...model.leases.values()].map((l) => l.tag))) real.releaseTagged(t);
          expect(real.snapshot().devices.map((d) => d.reservedMiB)).toEqual(capacities.map(() => 0));
          expect(real.snapshot().leases).toEqual([]);
        },
      ),
      { numRuns: runs(200) },
    );
  });
});
