/**
 * What most payloads and results are: plain data, which structured clone always copies, and which
 * can be checked ~50× faster than serializing it. Where a walk here is unsure it says no, and the
 * caller asks V8's serializer, so every answer is exactly structured clone's.
 */
import { types } from 'node:util';

/** True for plain data (see plainData), which structured clone always copies; false when unsure. */
export function isPlainData(value: unknown): boolean {
  return plainData(value, PLAIN_WALK_LIMIT, cloneable) >= 0;
}

/** True for plain data that JSON text gives back exactly as structured clone would; false when unsure. */
export function isJsonExact(value: unknown): boolean {
  return plainData(value, PLAIN_WALK_LIMIT, jsonExact) >= 0;
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
 * Walks primitives that pass `leafOk`, in plain objects and dense arrays. Returns the budget left,
 * or -1 when unsure: a class instance, a typed array, a Map, a proxy, an arguments object, a holey
 * array or one with extra properties, a cycle, a large value.
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
