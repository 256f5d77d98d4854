import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/task-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('task ids', () => {
  it('are UUIDv7 carrying the submit millisecond', () => {
    const ms = Date.UTC(2026, 10, 23, 14, 0, 0, 123);
    const id = newTaskId(ms);
    expect(id).toMatch(UUID_V7);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  });

  it('sort by their millisecond, so the store writes them at the end of its B-trees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 1, max: 2 ** 40 }), (earlier, gap) => {
        expect(newTaskId(earlier) < newTaskId(earlier + gap)).toBe(true);
      }),
    );
  });

  it('are unique within one millisecond', () => {
    const ms = Date.now();
    const ids = new Set(Array.from({ length: 20_000 }, () => newTaskId(ms)));
    expect(ids.size).toBe(20_000);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });
});
