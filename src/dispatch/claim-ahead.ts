/**
 * How many tasks a lane claims ahead of its threads.
 *
 * A task is marked running in the store (claimed) before its handler starts, so that after a
 * crash it is never run again silently. Waiting for that commit with only one task per thread
 * leaves the threads idle for a commit's time between short tasks. So a lane claims a few tasks
 * ahead: about as many as its threads finish during COMMITS_AHEAD commits (claims issued in one
 * event-loop turn share one transaction). Claimed tasks wait on the lane's board, in claim order,
 * for a thread to take them (see LaneThreads). Tasks that run much longer than a commit are
 * claimed only when a thread is free, so a crash reports no more of them as interrupted than were
 * really running.
 */

/**
 * Most tasks a lane claims beyond its threads, however short its tasks. It binds only for tasks
 * shorter than about a tenth of a millisecond (below that, COMMITS_AHEAD commits' worth is more): with no-op
 * tasks the lane's rate is then this many tasks per claim commit. 256 instead of 128 raised the free
 * lane's no-op rate by about 13% (2 cores, 6 of 6 alternating runs faster); 512 gained nothing more.
 * What it costs: after a crash up to this many tasks claimed ahead report INTERRUPTED (or go back in
 * line, for an idempotent type) though no thread took them, and a more urgent task arriving waits
 * behind them: COMMITS_AHEAD commits' worth of work, about 20 ms here, as far as the type's recent run
 * times predict its next ones (each type has its own ClaimAhead). Where a type's tasks suddenly run
 * far longer, those already claimed wait on the board, and their time limits run from the claim.
 */
export const MAX_CLAIM_AHEAD = 256;

/**
 * Commits' worth of tasks claimed ahead (a claim's commit as measured: it waits for the commit in
 * progress, then for its own). About half of it is taken by the claims on their way at any time;
 * the rest covers a commit that takes far longer than the average (a slow flush), which otherwise
 * leaves the board empty and the threads idle. With 1 ms tasks on 2 cores, two commits' worth kept
 * 1.78 cores busy; ten kept 1.94 and raised the free lane's rate from 0.82 to 0.94 of raw Piscina's
 * (six: 0.93; sixteen: no more than ten). One commit's worth had been too few already.
 */
const COMMITS_AHEAD = 10;

/** Weight of the newest sample in the moving averages below. */
const ALPHA = 0.1;

export class ClaimAhead {
  /** Moving averages, ms: how long a claim takes to commit, and a task to run in its thread. */
  private commitMs = 0;
  private runMs = Number.POSITIVE_INFINITY;

  /** `threads`: the tasks the lane runs at once. */
  constructor(readonly threads: number) {}

  /** Tasks the lane may hold claimed or running at once. */
  get limit(): number {
    const ahead = Math.floor((COMMITS_AHEAD * this.threads * this.commitMs) / Math.max(this.runMs, 0.001));
    return this.threads + Math.min(MAX_CLAIM_AHEAD, ahead);
  }

  /** A claim took `ms` to commit. */
  committed(ms: number): void {
    this.commitMs += ALPHA * (ms - this.commitMs);
  }

  /** A task ran for `ms` in its thread. */
  ran(ms: number): void {
    this.runMs = this.runMs === Number.POSITIVE_INFINITY ? ms : this.runMs + ALPHA * (ms - this.runMs);
  }
}
