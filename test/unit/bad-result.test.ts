import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

describe('a result that is not plain data', () => {
  it.each(['function', 'symbol', 'cycle', 'holey array with a function'])('fails the task (HANDLER_ERROR) when the result holds a %s; the batch goes on', async (kind) => {
    const s = await start({ types: { bad: { handler: fixture('bad-result-handler.mjs'), vramGb: 1 } } });
    const result = await s.run('bad', { kind });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'HANDLER_ERROR' } });
    await s.drain();
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('says the result could not be cloned when reading it throws (a getter), not only what the getter threw', async () => {
    const s = await start({ types: { bad: { handler: fixture('bad-result-handler.mjs'), vramGb: 1 } } });
    const result = await s.run('bad', { kind: 'throwing getter' });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'HANDLER_ERROR', message: expect.stringMatching(/cannot be structured-cloned \(no value yet\)/) } });
  });
});
