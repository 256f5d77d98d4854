/** ctx.signal is made on first read; a stop asked before then must look the same to the handler. */
import { afterEach, describe, expect, it } from 'vitest';
import { LazySignal } from '../../src/threads/lazy-signal.js';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

describe('LazySignal', () => {
  it('makes one signal, on first read, that aborts when asked', () => {
    const stop = new LazySignal();
    const { signal } = stop;
    expect(stop.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    let heard: unknown;
    signal.addEventListener('abort', () => (heard = signal.reason));
    stop.abort('cancelled');
    expect(heard).toBe('cancelled');
    expect(signal.aborted).toBe(true);
  });

  it('keeps a stop asked before the first read: the signal is then made aborted, with that reason', () => {
    const stop = new LazySignal();
    stop.abort('preempted');
    stop.abort('cancelled'); // later stops change nothing, as with an AbortController
    expect(stop.signal.aborted).toBe(true);
    expect(stop.signal.reason).toBe('preempted');
    expect(() => stop.signal.throwIfAborted()).toThrow();
  });

  it('keeps the first reason once the signal exists, as an AbortController does', () => {
    const stop = new LazySignal();
    const { signal } = stop;
    stop.abort('timeout');
    stop.abort('cancelled');
    expect(signal.reason).toBe('timeout');
  });
});

describe('ctx.signal in a handler', () => {
  it('can be replaced, as a plain property could (TaskContext.signal is not readonly)', async () => {
    const s = await start({ types: { widen: { handler: fixture('signal-handler.mjs'), gpu: false } } });
    const result = await s.run('widen', {});
    expect(result).toMatchObject({ status: 'succeeded', value: { replaced: true, aborted: true, reason: 'mine', originalAborted: false } });
  });
});
