/**
 * A thread's side of its pool's board: it keeps the tasks posted on the lane's channel and,
 * whenever one of its seats is free, takes the next one in board order for itself (see LaneBoard).
 * A free-lane thread has one seat; a GPU type's thread one per task it runs at once. Runs in the
 * worker thread, for as long as the thread lives.
 *
 * Replies of quick tasks wait for the end of the thread's turn and go in one post: a post costs
 * the main thread about as much as a no-op task's own work there. A reply waits only behind tasks
 * of types that have run quickly in this thread for a while (see QUICK_MS), and goes with the next
 * reply once MAX_HOLD_MS old or MAX_UNPOSTED waiting; a reply that is not quick goes at once, with
 * those waiting. A task that blocks its thread anyway holds the replies before it until it ends;
 * if its thread dies or is terminated meanwhile, those tasks fail with it (see LaneBoard.finished).
 */
import { BroadcastChannel, parentPort, threadId } from 'node:worker_threads';
import { following, isBefore, LaneBoard, MAX_UNPOSTED } from './lane-board.js';
import { unpackTask } from './lane-tasks.js';
import type { LaneReply, LaneReport, LaneTasks, LaneUnload, RunMessage, ServeMessage, WorkerReply } from './protocol.js';

/**
 * A task that ran shorter than this (ms) is quick: its reply may wait for the end of the turn, or
 * go with the next reply. The next task starts with replies waiting only if its type's recent
 * longest run (decaying by RECENT_DECAY a task: one slow run counts for dozens) was quick, so a
 * quick task's result comes up to about this much later. For tasks of a few milliseconds a post,
 * and the outcome's commit it sets off, are the main thread's largest cost per task: pairing the
 * replies of 1 ms tasks cut it from about 112 to 83 µs and raised the free lane's rate from 0.94 to
 * 0.96 of raw Piscina's (2 cores, alternating runs, 0.1 ms against 2.5 ms).
 */
const QUICK_MS = 2.5;
const RECENT_DECAY = 0.9;
/** A reply this old (ms) goes with the next one to end. */
const MAX_HOLD_MS = 1;

export function serveLane(
  { firstSeat, seats, lanes, board: buffer, channel: name, quickMs = QUICK_MS }: ServeMessage,
  run: (task: RunMessage) => Promise<WorkerReply>,
  unload: (type: string) => Promise<void>,
): Promise<never> {
  const board = LaneBoard.attach(buffer, lanes);
  /** This thread's seats with no task, the lowest last (taken first). */
  const free: number[] = [];
  for (let seat = firstSeat + seats - 1; seat >= firstSeat; seat--) {
    board.serve(seat, threadId);
    free.push(seat);
  }
  /** Tasks posted and not yet seen taken, by board index, in index order: their post, and their place in it. */
  const posted = new Map<number, { post: LaneTasks; k: number }>();
  /** Per type, its recent longest run in this thread (ms, decaying): whether the next one is likely quick. */
  const recentRunMs = new Map<string, number>();
  let unposted: LaneReply[] = [];
  let oldestUnpostedAt = 0;
  let postAtTurnEnd = false;

  const postReplies = (): void => {
    if (unposted.length === 0) return;
    report({ vramSchedulerLane: 'replies', replies: unposted });
    unposted = [];
    for (let seat = firstSeat; seat < firstSeat + seats; seat++) board.posted(seat);
  };
  const replied = (reply: LaneReply, endedAt: number): void => {
    if (unposted.length === 0) oldestUnpostedAt = endedAt;
    unposted.push(reply);
    if (reply.reply.runMs! >= quickMs || unposted.length === MAX_UNPOSTED || endedAt - oldestUnpostedAt >= MAX_HOLD_MS) postReplies();
    else if (!postAtTurnEnd) {
      postAtTurnEnd = true;
      setImmediate(() => {
        postAtTurnEnd = false;
        postReplies();
      });
    }
  };

  /** Forgets the tasks other threads have passed: a thread busy with a long task keeps only those still ahead. */
  const forgetPassed = (next: number): void => {
    for (const index of posted.keys()) {
      if (!isBefore(index, next)) break;
      posted.delete(index);
    }
  };

  const takeNext = (): void => {
    while (free.length > 0) {
      const next = board.next;
      forgetPassed(next);
      const where = posted.get(next);
      if (where === undefined) {
        if (board.skipPassed(next)) continue;
        return; // not posted yet: its message wakes this thread
      }
      posted.delete(next);
      const seat = free[free.length - 1]!;
      if (!board.take(next, seat)) continue; // withdrawn, or another thread was first
      free.pop();
      const task = unpackTask(where.post, where.k);
      // A task that may run long (and block this thread) starts only once the replies waiting are posted.
      if (!((recentRunMs.get(task.type) ?? quickMs) < quickMs)) postReplies();
      const startedAt = performance.now();
      void run(task).then((reply) => {
        const endedAt = performance.now();
        reply.runMs = endedAt - startedAt;
        recentRunMs.set(task.type, Math.max(reply.runMs, RECENT_DECAY * (recentRunMs.get(task.type) ?? 0)));
        // Kept on the board until posted: if this thread dies first, the task fails with it.
        board.finished(seat, next);
        replied({ index: next, reply }, endedAt);
        free.push(seat);
        takeNext();
      });
    }
  };

  const channel = new BroadcastChannel(name);
  channel.onmessage = (event) => {
    const post = (event as { data: LaneTasks | LaneUnload }).data;
    if ('unload' in post) {
      // Its batch has nothing in flight: every thread of the type unloads its own copy of the model.
      void unload(post.unload).then(() => report({ vramSchedulerLane: 'unloaded', firstSeat, id: post.id }));
      return;
    }
    const next = board.next;
    let index = post.first;
    for (let k = 0; k < post.ends.length; k++) {
      if (!isBefore(index, next)) posted.set(index, { post, k });
      index = following(index);
    }
    forgetPassed(next);
    takeNext();
  };
  // Listening now: the main thread posts again the tasks published before this thread started.
  report({ vramSchedulerLane: 'ready', firstSeat });
  // Never settles: the thread serves until the pool is destroyed or the thread is terminated.
  return new Promise<never>(() => {});
}

function report(message: LaneReport): void {
  parentPort!.postMessage(message);
}
