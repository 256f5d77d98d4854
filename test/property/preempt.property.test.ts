/**
 * Preemption's choice, for any set of live batches: it stops only what it may (preemptible, less
 * urgent, another type), on one device, only enough to make room, and never when room is already
 * coming back; it stops nothing for a task that is not critical or high.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { choosePreemption, PREEMPTING_RANK, type RunningBatch } from '../../src/dispatch/preempt.js';
import { runs } from '../support/fast-check-setup.js';

const TYPES = ['a', 'b', 'c', 'd', 'e', 'f'];

const cluster = fc
  .array(fc.integer({ min: 8, max: 80 }), { minLength: 1, maxLength: 4 })
  .chain((capacities) =>
    fc.record({
      capacities: fc.constant(capacities),
      batches: fc.uniqueArray(
        fc.record({
          type: fc.constantFrom(...TYPES),
          device: fc.integer({ min: 0, max: capacities.length - 1 }),
          mib: fc.integer({ min: 1, max: 40 }),
          rank: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(Number.POSITIVE_INFINITY)),
          preemptible: fc.boolean(),
          ending: fc.boolean(),
        }),
        { selector: (b) => b.type, maxLength: TYPES.length },
      ),
      urgent: fc.record({ type: fc.constantFrom(...TYPES, 'x'), rank: fc.integer({ min: 0, max: 3 }), needMiB: fc.integer({ min: 1, max: 80 }) }),
      foreignMiB: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: capacities.length, maxLength: capacities.length }),
    }),
  )
  // Leases never exceed a device (the ledger's invariant): drop batches that would.
  .map(({ capacities, batches, urgent, foreignMiB }) => {
    const used = capacities.map(() => 0);
    const live = batches.filter((b) => used[b.device]! + b.mib <= capacities[b.device]! && (used[b.device]! += b.mib) > 0);
    const devices = capacities.map((capacityMiB, d) => ({ capacityMiB, reservedMiB: Math.min(capacityMiB, used[d]! + foreignMiB[d]!) }));
    return { devices, batches: live as RunningBatch[], urgent };
  });

it('stops only what it may, on one device, just enough, and never for room already coming', () => {
  fc.assert(
    fc.property(cluster, ({ devices, batches, urgent }) => {
      const victims = choosePreemption(urgent, batches, devices);
      if (urgent.rank > PREEMPTING_RANK) expect(victims).toEqual([]);
      // Per device: could it hold the task at all, is room already coming back, could stopping make room.
      const outcomes = devices.map(({ capacityMiB, reservedMiB }, d) => {
        const here = batches.filter((b) => b.device === d);
        const room = capacityMiB - reservedMiB + here.filter((b) => b.ending).reduce((sum, b) => sum + b.mib, 0);
        const allowed = here.filter((b) => b.preemptible && !b.ending && b.rank > urgent.rank && b.type !== urgent.type);
        return { fits: capacityMiB >= urgent.needMiB, coming: room >= urgent.needMiB, could: room + allowed.reduce((sum, b) => sum + b.mib, 0) >= urgent.needMiB };
      });
      const roomComing = outcomes.some((o) => o.fits && o.coming);
      if (victims.length === 0) {
        // Nothing stopped: room is already coming back somewhere, or nowhere could stopping make room.
        if (urgent.rank <= PREEMPTING_RANK && !roomComing) expect(outcomes.some((o) => o.fits && o.could)).toBe(false);
        return true;
      }
      expect(roomComing).toBe(false);
      const device = victims[0]!.device;
      for (const v of victims) {
        expect(batches).toContain(v);
        expect(v).toMatchObject({ device, preemptible: true, ending: false });
        expect(v.rank).toBeGreaterThan(urgent.rank);
        expect(v.type).not.toBe(urgent.type);
      }
      const { capacityMiB, reservedMiB } = devices[device]!;
      const coming = batches.filter((b) => b.device === device && b.ending).reduce((sum, b) => sum + b.mib, 0);
      const freed = victims.reduce((sum, v) => sum + v.mib, 0);
      expect(capacityMiB - reservedMiB + coming + freed).toBeGreaterThanOrEqual(urgent.needMiB); // now there is room
      // Just enough: without its last victim, there would not be room.
      expect(capacityMiB - reservedMiB + coming + freed - victims.at(-1)!.mib).toBeLessThan(urgent.needMiB);
      return true;
    }),
    { numRuns: runs(500) },
  );
});
