/**
 * The free lane posts the tasks of one turn as bytes in one SharedArrayBuffer, so that each
 * thread of the lane receives a reference, not a copy, and only the thread that takes a task
 * decodes it. The bytes must give back every task as it was.
 */
import { describe, expect, it } from 'vitest';
import { encodeTask, packTasks, unpackTask } from '../../src/threads/lane-tasks.js';
import type { RunMessage } from '../../src/threads/protocol.js';

const task = (seq: number, payload: unknown): RunMessage => ({ op: 'run', taskId: `t${seq}`, seq, type: 'chores', payload });

describe('lane tasks in shared memory', () => {
  it('gives back each task of a post, payloads of every cloneable kind included', () => {
    const tasks = [
      task(1, { prompt: 'x'.repeat(10_000), n: 3 }),
      task(2, [1, 'two', null, { nested: [true] }]),
      task(3, { at: new Date(0), tags: new Set(['a']), index: new Map([['k', 1]]), big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]) }),
      { ...task(4, undefined), resumeFrom: { step: 7 } },
    ];
    const post = packTasks(41, tasks.map(encodeTask));
    expect(post.bytes).toBeInstanceOf(SharedArrayBuffer); // shared with every thread, not copied to each
    expect(post.first).toBe(41);
    expect(tasks.map((_, k) => unpackTask(post, k))).toEqual(tasks);
  });

  it('refuses a task it cannot copy, at encoding', () => {
    expect(() => encodeTask(task(1, { callback: () => 1 }))).toThrow();
  });
});
