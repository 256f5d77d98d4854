/**
 * How a pool's tasks travel to its threads: the tasks published in one turn are serialized once
 * into one SharedArrayBuffer, and every thread of the pool receives only a reference to it. The
 * thread that takes a task deserializes that task alone, so a payload is neither copied nor
 * decoded once per thread, however many threads the pool has.
 */
import v8 from 'node:v8';
import type { LaneTasks, RunMessage } from './protocol.js';

/** A task's bytes. Throws what the serializer throws for a value it cannot copy. */
export function encodeTask(task: RunMessage): Uint8Array {
  return encode(task);
}

/**
 * Throws for a payload a thread cannot be sent: what structured clone refuses, and shared memory,
 * which it accepts but a task's bytes cannot carry (nor could the store keep it).
 */
export function checkSendable(payload: unknown): void {
  encode(payload);
}

/**
 * V8's own serializer, as structured clone uses it, not v8.serialize(): that one writes a typed
 * array's bytes alone, and v8.deserialize() then hands back a view on the bytes it read (here the
 * post's shared memory, holding the other tasks' payloads) or on the thread's Buffer pool, and a
 * Buffer as a Buffer; a handler must receive what structured clone would give it.
 */
function encode(value: unknown): Uint8Array {
  const serializer = new v8.Serializer();
  serializer.writeHeader();
  serializer.writeValue(value);
  return serializer.releaseBuffer();
}

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
  const deserializer = new v8.Deserializer(new Uint8Array(bytes, start, ends[k]! - start));
  deserializer.readHeader();
  return deserializer.readValue() as RunMessage;
}
