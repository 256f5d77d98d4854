/**
 * The free lane posts the tasks of one turn as bytes in one SharedArrayBuffer, so that each
 * thread of the lane receives a reference, not a copy, and only the thread that takes a task
 * decodes it. The bytes must give back every task as it was.
 */
import v8 from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSendable, encodeTask, packTasks, unpackTask } from '../../src/threads/lane-tasks.js';
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

  it("checks a payload as V8's serializer would, plain data included (it skips serializing that)", () => {
    fc.assert(
      fc.property(anyPayload, (payload) => {
        expect(refused(() => checkSendable(payload))).toBe(refused(() => new v8.Serializer().writeValue(payload)));
      }),
      { numRuns: 500 },
    );
  });

  it('gives every task back as structured clone would, whether it travels as JSON text or as V8 serialized it', () => {
    fc.assert(
      fc.property(anyPayload, fc.option(anyPayload, { nil: undefined }), (payload, resumeFrom) => {
        const sent: RunMessage = resumeFrom === undefined ? task(7, payload) : { ...task(7, payload), resumeFrom };
        fc.pre(!refused(() => new v8.Serializer().writeValue(sent)));
        const received = unpackTask(packTasks(0, [encodeTask(sent)]), 0);
        const cloned = structuredClone(sent);
        expect(received).toStrictEqual(cloned);
        expect(keyOrder(received)).toEqual(keyOrder(cloned));
      }),
      { numRuns: 500 },
    );
  });
});

function refused(check: () => unknown): boolean {
  try {
    check();
    return false;
  } catch {
    return true;
  }
}

/** Every object's keys in order, nested: toStrictEqual ignores their order. */
function keyOrder(value: unknown, seen = new Set<unknown>()): unknown {
  if (typeof value !== 'object' || value === null || seen.has(value)) return null;
  seen.add(value);
  return Object.entries(value).map(([key, inner]) => [key, keyOrder(inner, seen)]);
}

// What looks like plain data and is not, beside what plainly is not.
const odd = fc.constantFrom(
  () => () => 1,
  () => Symbol('s'),
  () => new Proxy({ a: 1 }, {}),
  () => new Proxy([1], {}),
  () =>
    (function (..._args: unknown[]) {
      return arguments;
    })(1, 2),
  () => Object.assign([1, 2], { extra: () => 1 }),
  () => Object.assign([1, 2], { extra: 3 }),
  () => [1, , 3],
  () => Object.assign([1, , 3], { extra: () => 1 }), // as many keys as elements: the hole and the extra balance
  () => Object.assign([1, , 3], { extra: 2 }),
  () => Object.setPrototypeOf(new Map([[1, 2]]), Object.prototype) as unknown,
  () => Object.setPrototypeOf(new Date(0), Object.prototype) as unknown,
  () => Object.setPrototypeOf(new WeakMap(), Object.prototype) as unknown,
  () => Object.setPrototypeOf(new Uint8Array([1]), Array.prototype) as unknown,
  () => ({
    a: 1,
    get [Symbol.toStringTag](): string {
      throw new Error('tag'); // the serializer never reads symbol keys
    },
  }),
  () => new SharedArrayBuffer(8),
  () => ({
    get late(): never {
      throw new Error('getter');
    },
  }),
  () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    return cycle;
  },
  () => Array.from({ length: 300 }, (_, i) => i),
).map((make) => make());
const leaf = fc.oneof(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true }), odd);
/** Payloads of every kind, nested. */
const { payloads } = fc.letrec((tie) => ({
  payloads: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('payloads'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('payloads'), { maxKeys: 4 })),
}));
/** Plain data, where JSON text and structured clone part: -0, NaN, ±Infinity, undefined, bigints. */
const primitive = fc.oneof(fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt());
const { plain } = fc.letrec((tie) => ({
  plain: fc.oneof({ depthSize: 'small' }, primitive, fc.array(tie('plain'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('plain'), { maxKeys: 4, noNullPrototype: true })),
}));
const anyPayload = fc.oneof(payloads, plain);
