import { describe, expect, it } from 'vitest';
import { MAX_CLAIM_AHEAD, ThreadSlots } from '../../src/dispatch/thread-slots.js';

describe('ThreadSlots', () => {
  it('hands threads over to waiting claims in claim order (FIFO start)', async () => {
    const slots = new ThreadSlots(2);
    expect(slots.acquire()).toBeUndefined();
    expect(slots.acquire()).toBeUndefined();
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => slots.acquire()!.then(() => order.push(n)));
    slots.release();
    slots.release();
    slots.release();
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
    // Every thread came back: the next two acquisitions need no wait, the third does.
    slots.release();
    slots.release();
    expect(slots.acquire()).toBeUndefined();
    expect(slots.acquire()).toBeUndefined();
    expect(slots.acquire()).toBeInstanceOf(Promise);
  });

  it('claims none ahead until tasks have run, nor for tasks much longer than a commit', () => {
    const slots = new ThreadSlots(2);
    expect(slots.limit).toBe(2);
    slots.committed(1);
    slots.ran(5_000); // inference-like: seconds per task
    expect(slots.limit).toBe(2);
  });

  it('claims ahead about what its threads finish during two commits, up to the cap', () => {
    const slots = new ThreadSlots(2);
    for (let i = 0; i < 100; i++) {
      slots.committed(2);
      slots.ran(0.5);
    }
    // 2 commits × 2 threads × 2 ms commit ÷ 0.5 ms per task ≈ 16 ahead.
    expect(slots.limit).toBeGreaterThanOrEqual(2 + 15);
    expect(slots.limit).toBeLessThanOrEqual(2 + 16);
    for (let i = 0; i < 100; i++) slots.ran(0);
    expect(slots.limit).toBe(2 + MAX_CLAIM_AHEAD);
  });
});
