/**
 * How the free lane's tasks travel to its threads: the tasks published in one turn are serialized
 * once into one SharedArrayBuffer, and every thread of the lane receives only a reference to it.
 * The thread that takes a task deserializes that task alone, so a payload is neither copied nor
 * decoded once per thread, however many threads the lane has.
 */
import v8 from 'node:v8';
import type { LaneTasks, RunMessage } from './protocol.js';

/** A task's bytes. Throws what the serializer throws for a value it cannot copy. */
export const encodeTask = (task: RunMessage): Uint8Array => v8.serialize(task);

/** One post: encoded tasks for the board indices from `first` on, one after another in shared memory. */
export function packTasks(first: number, encoded: readonly Uint8Array[]): LaneTasks {
  const ends: number[] = [];
  let size = 0;
  for (const task of encoded) ends.push((size += task.length));
  const bytes = new SharedArrayBuffer(size);
  const view = new Uint8Array(bytes);
  encoded.forEach((task, k) => view.set(task, k === 0 ? 0 : ends[k - 1]!));
  return { first, bytes, ends };
}

/** The `k`-th task of a post. */
export function unpackTask({ bytes, ends }: LaneTasks, k: number): RunMessage {
  const start = k === 0 ? 0 : ends[k - 1]!;
  return v8.deserialize(new Uint8Array(bytes, start, ends[k]! - start)) as RunMessage;
}
