/** Where a queued task stands in line, and when it may start, from its type's recent run times. */
import type { TaskQueues } from './dispatch/queues.js';

export interface QueuePosition {
  /** Tasks of its type that start before it (0 = next). */
  ahead: number;
  /** Estimated ms until it starts once its type runs: `ahead` × mean run time ÷ concurrency; undefined until a task of the type has run. */
  etaMs: number | undefined;
}

/** Mean run time per type, weighted towards recent tasks (EWMA, α = 0.2). */
export class RunTimes {
  private readonly means = new Map<string, number>();

  record(type: string, ms: number): void {
    const mean = this.means.get(type);
    this.means.set(type, mean === undefined ? ms : mean + 0.2 * (ms - mean));
  }

  mean(type: string): number | undefined {
    return this.means.get(type);
  }
}

export function positionIn(queues: TaskQueues, id: string, type: string, meanRunMs: number | undefined, concurrency: number): QueuePosition | undefined {
  let ahead = 0;
  for (const entry of queues.entries(type)) {
    if (entry.id === id) return { ahead, etaMs: meanRunMs === undefined ? undefined : Math.round((ahead * meanRunMs) / concurrency) };
    ahead++;
  }
  return undefined;
}
