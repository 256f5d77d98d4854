import { afterEach, describe, expect, it } from 'vitest';
import { Gate } from '../support/gate.js';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);

const echo = { handler: fixture('echo-handler.mjs'), vramGb: 2 };
const gated = { handler: fixture('gated-handler.mjs'), vramGb: 2 };

describe('submit', () => {
  it('deduplicates by key against a queued or running task of the same type', async () => {
    const gate = new Gate();
    const s = await start({ types: { gated, other: gated } });
    const first = await s.submit('gated', { tag: 'k' }, { key: 'job-7' });
    await gate.waitForStarted(1);
    expect(await s.submit('gated', { tag: 'again' }, { key: 'job-7' })).toEqual({ id: first.id, isNew: false });
    const concurrent = await Promise.all([1, 2, 3].map(() => s.submit('other', { tag: 'o' }, { key: 'job-7' })));
    expect(new Set(concurrent.map((r) => r.id)).size).toBe(1);
    expect(concurrent.filter((r) => r.isNew)).toHaveLength(1);
    gate.releaseAll();
    await s.wait(first.id);
    const after = await s.submit('gated', { tag: 'later' }, { key: 'job-7' });
    expect(after.isNew).toBe(true);
    expect(after.id).not.toBe(first.id);
    await s.drain();
    gate.close();
  });

  it('drain() waits for submits that are still being written', async () => {
    const s = await start({ types: { echo } });
    const submitting = s.submit('echo', { n: 1 });
    await s.drain();
    const { id } = await submitting;
    expect(await s.result(id)).toMatchObject({ status: 'succeeded' });
  });
});

describe('store failures', () => {
  it('a task whose outcome cannot be stored fails its waiters (STORE_ERROR) instead of hanging; its key is freed', async () => {
    const s = await start({ types: { echo } });
    // Simulated disk failure for outcome writes only.
    const store = (s as unknown as { store: { finish: () => Promise<never> } }).store;
    const finish = store.finish;
    store.finish = () => Promise.reject(new Error('ENOSPC: no space left on device (simulated)'));
    const { id } = await s.submit('echo', {}, { key: 'k' });
    const result = await s.wait(id);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'STORE_ERROR' } });
    expect(result.error!.message).toContain('ENOSPC');
    await s.drain();
    store.finish = finish;
    expect((await s.submit('echo', {}, { key: 'k' })).isNew).toBe(true);
  });
});

describe('recovery', () => {
  it('fails a recovered task that no longer fits any device instead of blocking its type', async () => {
    const gate = new Gate();
    const dataDir = tempDir();
    const first = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 24 }], types: { a: echo, blocker: { ...gated, vramGb: 24 } } });
    await first.submit('blocker', { tag: 'b' });
    await gate.waitForStarted(1);
    const big = await first.submit('a', {}, { vramGb: 20 });
    const closing = first.close();
    gate.release('b');
    await closing;
    gate.close();

    const second = await start({ dataDir, devices: [{ id: 'gpu0', vramGb: 16 }], types: { a: echo, blocker: echo } });
    expect(await second.result(big.id)).toMatchObject({ status: 'failed', error: { code: 'BUDGET_EXCEEDS_DEVICES' } });
    expect(await second.run('a', { n: 2 })).toMatchObject({ status: 'succeeded' });
    await second.drain();
  });
});

describe('budgets from the token estimate', () => {
  it('adds estimatedTokens / 1000 × kvGbPer1kTokens to the need: for the lease and for refusal', async () => {
    const s = await start({ types: { chat: { ...echo, vramGb: 2, kvGbPer1kTokens: 0.5 } } });
    const leases: number[] = [];
    s.on('batch:started', (e) => leases.push(e.vramGb));
    await s.run('chat', {}, { estimatedTokens: 8000 });
    await s.run('chat', {});
    expect(leases).toEqual([6, 2]);
    await expect(s.submit('chat', {}, { estimatedTokens: 50_000 })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDS_DEVICES' });
    await expect(s.submit('chat', {}, { estimatedTokens: 1.5 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
