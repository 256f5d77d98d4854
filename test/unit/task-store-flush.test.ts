/**
 * A store promise resolves once its transaction is flushed to disk, not only committed. lmdb-js
 * overlaps the flush with later transactions (its default on Linux) and resolves a write at
 * commit, so here every write's flush is held back until the test lets it go: the store's
 * promises must wait for it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';

/** Flushes the test holds: each write's `.flushed` waits for `releaseFlushes()`. */
const held = vi.hoisted(() => {
  const state = { gate: Promise.resolve(), release: () => {}, commits: [] as Promise<unknown>[] };
  /** Holds the flushes of the writes made from now until `release()`. */
  const arm = (): void => {
    state.commits = [];
    state.gate = new Promise<void>((resolve) => (state.release = resolve));
  };
  return { state, arm };
});

vi.mock('lmdb', async (importOriginal) => {
  const lmdb = await importOriginal<typeof import('lmdb')>();
  const holdFlushes = <T extends object>(db: T): T =>
    new Proxy(db, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key === 'openDB') return (...args: unknown[]) => holdFlushes((value as (...a: unknown[]) => object).apply(target, args));
        if (key !== 'put' && key !== 'remove') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: unknown[]) => {
          const write = (value as (...a: unknown[]) => Promise<boolean> & { flushed?: Promise<unknown> }).apply(target, args);
          held.state.commits.push(write);
          // The real flush, and then the test's say-so.
          if (write.flushed) write.flushed = Promise.all([write.flushed, held.state.gate]);
          return write;
        };
      },
    });
  return { ...lmdb, open: ((...args: Parameters<typeof lmdb.open>) => holdFlushes(lmdb.open(...args))) as typeof lmdb.open };
});

const { TaskStore } = await import('../../src/store/task-store.js');

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a store call with its flush held: it must still be pending once its transaction has committed. */
async function heldUntilFlushed<T>(call: () => Promise<T>): Promise<T> {
  held.arm();
  let resolved = false;
  const result = call().then((value) => ((resolved = true), value));
  await Promise.all(held.state.commits); // committed: visible to readers, not yet on disk
  await new Promise((resolve) => setImmediate(resolve));
  expect(resolved, 'resolved before its transaction was flushed').toBe(false);
  held.state.release();
  return result;
}

it('resolves an insert, a start, an outcome and a recovery only once their transactions are flushed, not at commit', async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-flush-'));
  const dir = path.join(tmp, 'data');
  let store = TaskStore.open({ dir });
  const task = (id: string) => {
    const seq = store.nextSeq();
    return [{ id, type: 'llm', seq, priority: 'normal' as const, payload: { id }, status: 'queued' as const, queuedAt: seq }, { id, type: 'llm', seq, priority: 'normal' as const, queuedAt: seq, vramMiB: 0 }] as const;
  };
  await heldUntilFlushed(() => store.insert(...task('a')));
  expect(store.getCommittedState('a')?.status).toBe('queued');
  expect((await heldUntilFlushed(() => store.markRunning('a', { startedAt: 1 }))).status).toBe('running');
  expect((await heldUntilFlushed(() => store.finish('a', { status: 'succeeded', value: 3, finishedAt: 2 }))).status).toBe('succeeded');
  expect((await heldUntilFlushed(() => store.insertRunning(...task('b'), { startedAt: 3 }))).status).toBe('running');
  await store.close();
  store = TaskStore.open({ dir });
  expect((await heldUntilFlushed(() => store.recover(4))).interrupted).toEqual(['b']);
  await store.close();
});
