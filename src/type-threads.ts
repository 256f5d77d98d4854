/**
 * The options that shape a GPU type's threads: how many it runs (`threads`) and the heap each
 * may use (`maxHeapMb`). Free-lane types share the free lane's threads, so neither applies to them.
 */
import { expected } from './errors.js';
import { MAX_LANES } from './threads/lane-board.js';

/** Threads a GPU type may run: each loads its own copy of the model. */
export const MAX_TYPE_THREADS = 64;
/** A worker thread needs about 8 MB of heap to start and load a small handler (4 fails, 8 runs): twice that is the floor. */
export const MIN_HEAP_MB = 16;

type Dict = Record<string, unknown>;

/** `threads`: 1 unless a GPU type asks for more; its seats (threads × concurrency) must fit on one board. */
export function readThreads(t: Dict, p: string, concurrency: number): number {
  if (t.threads === undefined) return 1;
  if (!Number.isSafeInteger(t.threads) || (t.threads as number) < 1 || (t.threads as number) > MAX_TYPE_THREADS) throw expected(`${p}.threads`, `a positive integer <= ${MAX_TYPE_THREADS}`, t.threads);
  if (t.gpu === false) throw expected(`${p}.threads`, 'absent on a free-lane type (gpu: false): free-lane types share the free lane\'s threads (set options.freeLaneThreads)', t.threads);
  const threads = t.threads as number;
  if (threads * concurrency > MAX_LANES) throw expected(`${p}.threads`, `at most ${Math.floor(MAX_LANES / concurrency)} with concurrency ${concurrency} (threads × concurrency <= ${MAX_LANES}): lower one of them`, t.threads);
  return threads;
}

/** `maxHeapMb`: only GPU types have threads of their own to limit. */
export function readMaxHeapMb(t: Dict, p: string): { maxHeapMb?: number } {
  if (t.maxHeapMb === undefined) return {};
  if (!Number.isSafeInteger(t.maxHeapMb) || (t.maxHeapMb as number) < MIN_HEAP_MB) throw expected(`${p}.maxHeapMb`, `an integer number of MB >= ${MIN_HEAP_MB}`, t.maxHeapMb);
  if (t.gpu === false) throw expected(`${p}.maxHeapMb`, 'absent on a free-lane type (gpu: false): free-lane types share their threads, so one type cannot limit them', t.maxHeapMb);
  return { maxHeapMb: t.maxHeapMb as number };
}
