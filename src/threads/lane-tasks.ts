/**
 * How a pool's tasks travel to its threads: the tasks published in one turn are serialized once
 * into one SharedArrayBuffer, and every thread of the pool receives only a reference to it. The
 * thread that takes a task deserializes that task alone, so a payload is neither copied nor
 * decoded once per thread, however many threads the pool has. Either way a handler receives what
 * structured clone would give it.
 */
import { constants } from 'node:buffer';
import v8 from 'node:v8';
import { isJsonExact, isPlainData } from './plain-data.js';
import type { LaneTasks, RunMessage } from './protocol.js';

/**
 * A task's bytes. A task of plain data that JSON carries exactly goes as JSON text (its thread
 * parses it in a fraction of the time, and it costs the main thread a third as much), any other
 * as V8's serializer writes it. Throws what the serializer throws for a value it cannot copy.
 */
export function encodeTask(task: RunMessage): Uint8Array {
  if (isJsonExact(task)) {
    const text = jsonText(task);
    // The thread decodes the text into one string, and Buffer refuses more bytes than a string holds.
    const bytes = text === undefined ? undefined : Buffer.from(text);
    if (bytes !== undefined && bytes.length <= constants.MAX_STRING_LENGTH) return bytes;
  }
  return encode(task);
}

/** JSON text, or undefined where escaping makes it longer than a string can be (the serializer has no such limit). */
function jsonText(task: RunMessage): string | undefined {
  try {
    return JSON.stringify(task);
  } catch {
    return undefined;
  }
}

/**
 * Throws for a payload a thread cannot be sent: what structured clone refuses, and shared memory,
 * which it accepts but a task's bytes cannot carry (nor could the store keep it).
 */
export function checkSendable(payload: unknown): void {
  if (!isPlainData(payload)) encode(payload);
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

/** A task sent as JSON text starts with its `{`; V8's serializer starts with its version tag, 0xFF. */
const JSON_START = 0x7b;

/** The `k`-th task of a post. */
export function unpackTask({ bytes, ends }: LaneTasks, k: number): RunMessage {
  const start = k === 0 ? 0 : ends[k - 1]!;
  const task = new Uint8Array(bytes, start, ends[k]! - start);
  if (task[0] === JSON_START) return JSON.parse(Buffer.from(bytes, start, task.length).toString()) as RunMessage;
  const deserializer = new v8.Deserializer(task);
  deserializer.readHeader();
  return deserializer.readValue() as RunMessage;
}
