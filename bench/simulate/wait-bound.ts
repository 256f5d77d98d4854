/**
 * A lower bound on the longest wait (arrival → taken by a batch) that any schedule running one
 * batch per type at a time must impose, from bursts: k tasks of one type that arrive at the
 * same moment a. A type has at most `concurrency` tasks in flight, so when the last of the k is
 * taken, at least k − concurrency of them have finished. They ran after a and after the type's
 * model could first be loaded (its first arrival plus its load), on at most `concurrency`
 * places: at least (the k − concurrency shortest durations) ÷ concurrency of time. Whatever the
 * order, that last task waited at least that long. (First come, first served is not the
 * shortest longest wait: a short task taken first delays the others less.)
 * Where this exceeds the starvation bound, no such schedule keeps every task within it. (One that
 * loads several copies of a model takes a burst faster, and is not bound by this.)
 */
import type { Trace } from './model.js';

export interface WaitBound {
  ms: number;
  /** The type whose burst makes that wait. */
  type: string;
}

export function longestWaitBound(trace: Trace): WaitBound {
  let bound: WaitBound = { ms: 0, type: '' };
  for (const spec of trace.types) {
    /** The durations of the type's tasks, by arrival time. */
    const byArrival = new Map<number, number[]>();
    for (const task of trace.tasks) {
      if (task.type !== spec.name) continue;
      const burst = byArrival.get(task.arrivalMs) ?? [];
      burst.push(task.durationMs);
      byArrival.set(task.arrivalMs, burst);
    }
    if (byArrival.size === 0) continue;
    const loadedAt = Math.min(...byArrival.keys()) + spec.loadMs;
    for (const [arrivalMs, durations] of byArrival) {
      const finishedFirst = durations.length - spec.concurrency;
      if (finishedFirst <= 0) continue;
      const shortest = [...durations].sort((a, b) => a - b).slice(0, finishedFirst);
      const ms = Math.max(arrivalMs, loadedAt) - arrivalMs + shortest.reduce((a, b) => a + b, 0) / spec.concurrency;
      if (ms > bound.ms) bound = { ms, type: spec.name };
    }
  }
  return bound;
}
