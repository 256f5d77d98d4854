/**
 * How a pool's tasks travel to its threads: the tasks published in one turn are serialized once
 * into one SharedArrayBuffer, and every thread of the pool receives only a reference to it. The
 * thread that takes a task deserializes that task alone, so a payload is neither copied nor
 * decoded once per thread, however many threads the pool has. Either way a handler receives what
 * structured clone would give it.
 */
import { constants } from 'node:buffer';
import { types } from 'node:util';
import v8 from 'node:v8';
import type { LaneTasks, RunMessage } from './protocol.js';

/**
 * A task's bytes. A task of plain data that JSON carries exactly goes as JSON text (its thread
 * parses it in a fraction of the time, and it costs the main thread a third as much), any other
 * as V8's serializer writes it. Throws what the serializer throws for a value it cannot copy.
 */
export function encodeTask(task: RunMessage): Uint8Array {
  if (plainData(task, PLAIN_WALK_LIMIT, jsonExact) >= 0) {
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

/** True for plain data (see plainData), which structured clone always copies; false when unsure. */
export function isPlainData(value: unknown): boolean {
  return plainData(value, PLAIN_WALK_LIMIT, cloneable) >= 0;
}

/** Values the plain-data walk visits at most before it leaves the payload to the serializer. */
const PLAIN_WALK_LIMIT = 256;

/** Primitives structured clone copies. */
const cloneable = (value: unknown): boolean => typeof value !== 'function' && typeof value !== 'symbol';

/** Primitives JSON gives back as structured clone would: not undefined, a bigint, NaN, ±Infinity or -0. */
const jsonExact = (value: unknown): boolean =>
  typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0));

/**
 * An object that is more than its properties though its prototype is Object.prototype (an arguments
 * object, or a Map or Date given it with Object.setPrototypeOf): structured clone copies it by what
 * it is, or refuses it, where JSON would give {}.
 */
function hasInternalSlots(value: object): boolean {
  return (
    Symbol.toStringTag in value || // a tag of its own (read by the next line, maybe through a getter): the serializer decides
    Object.prototype.toString.call(value) !== '[object Object]' || // arguments, Date, RegExp, Error, boxed primitives
    types.isMap(value) ||
    types.isSet(value) ||
    types.isWeakMap(value) ||
    types.isWeakSet(value) ||
    types.isPromise(value) ||
    types.isAnyArrayBuffer(value) ||
    types.isArrayBufferView(value) ||
    types.isBoxedPrimitive(value)
  );
}

/**
 * What most payloads are: primitives that pass `leafOk`, in plain objects and dense arrays.
 * Checking that is ~50× cheaper than serializing a small payload. Returns the budget left, or -1
 * when unsure (a class instance, a typed array, a Map, a proxy, an arguments object, a holey array
 * or one with extra properties, a cycle, a large value): the caller then serializes it, so the
 * answer is exactly structured clone's either way.
 */
function plainData(value: unknown, budget: number, leafOk: (primitive: unknown) => boolean): number {
  if (--budget < 0) return -1;
  if (value === null) return budget;
  if (typeof value !== 'object') return leafOk(value) ? budget : -1;
  if (types.isProxy(value)) return -1; // before any look at it: a proxy runs code, and cloning refuses it
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    if (!Array.isArray(value) || value.length > budget) return -1;
    // As many keys as elements and the last one an index: no holes and no extra keys (the two could balance).
    const keys = Object.keys(value);
    if (keys.length !== value.length || (keys.length > 0 && keys[keys.length - 1] !== String(keys.length - 1))) return -1;
    const array = value as unknown[];
    for (let i = 0; i < array.length && budget >= 0; i++) budget = plainData(array[i], budget, leafOk);
    return budget;
  }
  if (proto !== Object.prototype || hasInternalSlots(value)) return -1;
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length && budget >= 0; i++) budget = plainData((value as Record<string, unknown>)[keys[i]!], budget, leafOk);
  return budget;
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
