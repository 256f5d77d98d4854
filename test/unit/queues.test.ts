import { describe, expect, it } from 'vitest';
import { TaskQueues } from '../../src/dispatch/queues.js';
import type { Priority, QueueEntry } from '../../src/task.js';

let seq = 0;
const entry = (type: string, priority: Priority = 'normal'): QueueEntry => ({
  id: `t${++seq}`,
  type,
  seq,
  priority,
  queuedAt: seq,
  vramMiB: 0,
});

describe('TaskQueues', () => {
  it('is FIFO within a type and priority, most urgent priority first', () => {
    const q = new TaskQueues();
    const [a, b, c, d] = [entry('x', 'low'), entry('x'), entry('x', 'critical'), entry('x')];
    for (const e of [a, b, c, d]) q.push(e!);
    expect([q.shift('x'), q.shift('x'), q.shift('x'), q.shift('x'), q.shift('x')]).toEqual([c, b, d, a, undefined]);
  });

  it('puts preempted tasks back at the head in acknowledgement order, whatever order they come back in', () => {
    const q = new TaskQueues();
    const [a, b, c, d] = [entry('x'), entry('x'), entry('x'), entry('x')];
    q.push(d!);
    for (const e of [c, a, b]) q.pushFront(e!);
    expect([q.shift('x'), q.shift('x'), q.shift('x'), q.shift('x')]).toEqual([a, b, c, d]);
  });

  it('keeps depths per type and in total', () => {
    const q = new TaskQueues();
    q.push(entry('x'));
    q.push(entry('x'));
    q.push(entry('y'));
    expect([q.depth('x'), q.depth('y'), q.depth('z'), q.size]).toEqual([2, 1, 0, 3]);
    expect([...q.waitingTypes()].sort()).toEqual(['x', 'y']);
    q.shift('y');
    expect([...q.waitingTypes()]).toEqual(['x']);
  });

  it('removes a queued task lazily: skipped at the head, not counted', () => {
    const q = new TaskQueues();
    const [a, b, c] = [entry('x'), entry('x'), entry('x')];
    for (const e of [a, b, c]) q.push(e!);
    q.remove(a!);
    q.remove(c!);
    expect(q.depth('x')).toBe(1);
    expect([...q.entries('x')]).toEqual([b]);
    expect(q.peek('x')).toBe(b);
    expect(q.shift('x')).toBe(b);
    expect(q.shift('x')).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it('counts queued tasks per submitted priority through push, shift and remove, priorities on or off', () => {
    for (const priorityScheduling of [true, false]) {
      const q = new TaskQueues({ priorityScheduling, agingMs: 0 });
      const [low, high, critical, normal] = [entry('x', 'low'), entry('x', 'high'), entry('x', 'critical'), entry('x')];
      for (const e of [low, high, critical, normal]) q.push(e!);
      expect(q.depthByPriority('x')).toEqual({ low: 1, normal: 1, high: 1, critical: 1 });
      q.remove(high!);
      const first = q.shift('x'); // critical when priorities are on; low (acknowledged first) when off
      expect(first).toBe(priorityScheduling ? critical : low);
      expect(q.depthByPriority('x')).toEqual({ low: 1, normal: 1, high: 0, critical: 1, [first!.priority]: 0 });
      expect(q.depthByPriority('unknown')).toEqual({ low: 0, normal: 0, high: 0, critical: 0 });
    }
  });

  it('ages a waiting task one priority higher per interval, past critical', () => {
    const q = new TaskQueues({ priorityScheduling: true, agingMs: 100 });
    const low = { ...entry('x', 'low'), queuedAt: 0 };
    const high = { ...entry('x', 'high'), queuedAt: 900 };
    q.push(low);
    q.push(high);
    expect(q.head('x', 100)).toEqual({ entry: high, rank: 1 }); // low has aged one interval: rank 2
    expect(q.head('x', 250)).toEqual({ entry: low, rank: 1 }); // two intervals: rank 1, and it is older
    expect(q.head('x', 950)).toEqual({ entry: low, rank: -6 }); // nine intervals: ahead of any fresh critical task
  });

  it('with priorityScheduling false, serves one type in acknowledgement order', () => {
    const q = new TaskQueues({ priorityScheduling: false, agingMs: 0 });
    const [a, b, c] = [entry('x', 'low'), entry('x', 'critical'), entry('x')];
    for (const e of [a, b, c]) q.push(e!);
    expect([q.shift('x'), q.shift('x'), q.shift('x')]).toEqual([a, b, c]);
  });

  it('grows past its initial capacity without losing order (ring buffer wrap-around)', () => {
    const q = new TaskQueues();
    const pushed: QueueEntry[] = [];
    for (let i = 0; i < 10; i++) q.push(pushed[pushed.length] = entry('x'));
    for (let i = 0; i < 6; i++) expect(q.shift('x')).toBe(pushed[i]);
    for (let i = 0; i < 100; i++) q.push(pushed[pushed.length] = entry('x'));
    const out: QueueEntry[] = [];
    for (let e = q.shift('x'); e; e = q.shift('x')) out.push(e);
    expect(out).toEqual(pushed.slice(6));
  });
});
