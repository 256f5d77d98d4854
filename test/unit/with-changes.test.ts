import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withChanges } from '../../src/with-changes.js';

describe('withChanges', () => {
  it('gives what an object spread gives: a new object with the changes on top, the base untouched', () => {
    const record = fc.dictionary(fc.constantFrom('id', 'status', 'seq', 'attempts', 'startedAt', 'device', 'payload'), fc.jsonValue(), { noNullPrototype: true });
    fc.assert(
      fc.property(record, record, (base, changes) => {
        const before = structuredClone(base);
        const changed = withChanges(base, changes);
        expect(changed).toStrictEqual({ ...base, ...changes });
        expect(Object.keys(changed)).toEqual(Object.keys({ ...base, ...changes }));
        expect(changed).not.toBe(base);
        expect(base).toStrictEqual(before);
      }),
    );
  });
});
