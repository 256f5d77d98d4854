import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const flaky = (retries: number, extra = {}) => ({ handler: fixture('flaky-handler.mjs'), vramGb: 2, retries, retryBackoffMs: 20, ...extra });

describe('retries', () => {
  it('tries a failing task again with a doubling backoff and records the attempts', async () => {
    const s = await start({ types: { t: flaky(2) } });
    const retrying: { attempts: number; delayMs: number; code: string }[] = [];
    s.on('task:retrying', (e) => retrying.push({ attempts: e.attempts, delayMs: e.delayMs, code: e.error.code }));
    const result = await s.run('t', { log: join(tempDir(), 'attempts'), failures: 2 });
    expect(result).toMatchObject({ status: 'succeeded', value: { attempt: 3 } });
    expect(retrying).toEqual([
      { attempts: 1, delayMs: 20, code: 'HANDLER_ERROR' },
      { attempts: 2, delayMs: 40, code: 'HANDLER_ERROR' },
    ]);
    expect(await s.get(result.id)).toMatchObject({ attempts: 3, lastError: { code: 'HANDLER_ERROR', message: 'transient failure 2' } });
  });

  it('fails for good once the attempts are spent', async () => {
    const s = await start({ types: { t: flaky(1) } });
    const result = await s.run('t', { log: join(tempDir(), 'attempts'), failures: 5 });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'HANDLER_ERROR', message: 'transient failure 2' } });
    expect((await s.get(result.id)).attempts).toBe(2);
  });

  it('retries a task whose worker crashed, and drain waits through the backoff', async () => {
    const s = await start({ types: { t: flaky(1) } });
    const { id } = await s.submit('t', { log: join(tempDir(), 'attempts'), failures: 1, crash: true });
    await once(s, 'task:retrying');
    await s.drain();
    expect(await s.result(id)).toMatchObject({ status: 'succeeded', value: { attempt: 2 } });
    expect(s.snapshot().devices[0]!.reservedGb).toBe(0);
  });

  it('a task cancelled during its backoff ends cancelled', async () => {
    const s = await start({ types: { t: flaky(3, { retryBackoffMs: 60_000 }) } });
    const { id } = await s.submit('t', { log: join(tempDir(), 'attempts'), failures: 1 });
    await once(s, 'task:retrying');
    expect(await s.cancel(id)).toBe(true);
    expect(await s.wait(id)).toMatchObject({ status: 'cancelled' });
    await s.drain();
    expect(s.snapshot().queues.t).toBe(0);
  });
});
