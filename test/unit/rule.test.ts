import { describe, expect, it } from 'vitest';
import { bestFit, decide, type WaitingType } from '../../src/dispatch/rule.js';

const waiting = (type: string, depth: number, needMiB: number, extra: Partial<WaitingType> = {}): WaitingType => ({
  type,
  depth,
  needMiB,
  rank: 2,
  headSeq: depth,
  waitedMs: 0,
  ...extra,
});

describe('dispatch rule', () => {
  it('starts the deepest queue first when only one fits (the reference rule)', () => {
    const decisions = decide({
      waiting: [waiting('shallow', 2, 5000), waiting('deep', 3, 5000)],
      devices: [{ capacityMiB: 6000, reservedMiB: 0 }],
    });
    expect(decisions).toEqual([{ kind: 'start', type: 'deep', device: 0, mib: 5000 }]);
  });

  it('starts several types at once while VRAM allows', () => {
    const decisions = decide({
      waiting: [waiting('a', 1, 5000), waiting('b', 2, 5000), waiting('c', 3, 5000)],
      devices: [{ capacityMiB: 12000, reservedMiB: 0 }],
    });
    expect(decisions.map((d) => d.type)).toEqual(['c', 'b']);
  });

  it('lets a smaller type start when the top-ranked one does not fit', () => {
    const decisions = decide({
      waiting: [waiting('big', 9, 8000), waiting('small', 1, 2000)],
      devices: [{ capacityMiB: 8000, reservedMiB: 5000 }],
    });
    expect(decisions).toEqual([{ kind: 'start', type: 'small', device: 0, mib: 2000 }]);
  });

  it('ranks a more urgent priority above a deeper queue, and the older head on a tie', () => {
    const decisions = decide({
      waiting: [waiting('deep', 9, 4000), waiting('urgent', 1, 4000, { rank: 0 }), waiting('older', 9, 4000, { headSeq: 1 })],
      devices: [{ capacityMiB: 8000, reservedMiB: 0 }],
    });
    expect(decisions.map((d) => d.type)).toEqual(['urgent', 'older']);
  });

  it('never places a reservation across devices', () => {
    expect(decide({ waiting: [waiting('x', 1, 30000)], devices: [{ capacityMiB: 24000, reservedMiB: 0 }, { capacityMiB: 24000, reservedMiB: 0 }] })).toEqual([]);
  });

  it('holds the line for the top-ranked type once it has waited past the starvation bound', () => {
    const input = {
      waiting: [waiting('large', 1, 20000, { rank: 1, waitedMs: 5000 }), waiting('small', 50, 2000)],
      devices: [{ capacityMiB: 24000, reservedMiB: 6000 }],
    };
    expect(decide({ ...input, starvationMs: 0 })).toEqual([{ kind: 'start', type: 'small', device: 0, mib: 2000 }]);
    expect(decide({ ...input, starvationMs: 10000 })).toEqual([{ kind: 'start', type: 'small', device: 0, mib: 2000 }]);
    expect(decide({ ...input, starvationMs: 5000 })).toEqual([{ kind: 'hold', type: 'large', devices: [0] }]);
  });

  it('lets lower-ranked types use devices the held type could never fit on', () => {
    const decisions = decide({
      waiting: [waiting('large', 1, 20000, { rank: 0, waitedMs: 9e9 }), waiting('small', 5, 2000)],
      devices: [{ capacityMiB: 24000, reservedMiB: 8000 }, { capacityMiB: 8000, reservedMiB: 0 }],
      starvationMs: 1,
    });
    expect(decisions).toEqual([
      { kind: 'hold', type: 'large', devices: [0] },
      { kind: 'start', type: 'small', device: 1, mib: 2000 },
    ]);
  });

  it('picks the device that is left with the least free VRAM', () => {
    expect(bestFit([8000, 6000, 4000], 5000)).toBe(1);
    expect(bestFit([8000, 6000], 7000)).toBe(0);
    expect(bestFit([1000], 2000)).toBe(-1);
  });

  it('lets no lower-ranked type take VRAM an eviction is freeing for a higher-ranked one', () => {
    // 24 MiB card, 22 reserved (12 of it a warm batch): X (8) needs the eviction; Y (5) must not count the warm 12 as free.
    const decisions = decide({
      waiting: [waiting('x', 3, 8), waiting('y', 1, 5)],
      warm: [{ type: 'a', device: 0, mib: 12, idleSince: 0 }],
      devices: [{ capacityMiB: 24, reservedMiB: 22 }],
    });
    expect(decisions).toEqual([{ kind: 'evict', type: 'a', for: 'x' }]);
    // With room to spare after X's share, Y may still use what is free now.
    const roomy = decide({
      waiting: [waiting('x', 3, 8), waiting('y', 1, 2)],
      warm: [{ type: 'a', device: 0, mib: 12, idleSince: 0 }],
      devices: [{ capacityMiB: 24, reservedMiB: 22 }],
    });
    expect(roomy).toEqual([{ kind: 'evict', type: 'a', for: 'x' }, { kind: 'start', type: 'y', device: 0, mib: 2 }]);
  });

  it('ranks a type that just yielded its quantum after equal-priority types, not after more urgent ones', () => {
    const devices = [{ capacityMiB: 6000, reservedMiB: 0 }];
    expect(decide({ waiting: [waiting('deep', 9, 5000, { yielded: true }), waiting('shallow', 1, 5000)], devices })).toEqual([{ kind: 'start', type: 'shallow', device: 0, mib: 5000 }]);
    expect(decide({ waiting: [waiting('deep', 9, 5000, { yielded: true, rank: 1 }), waiting('shallow', 1, 5000)], devices })).toEqual([{ kind: 'start', type: 'deep', device: 0, mib: 5000 }]);
  });
});
