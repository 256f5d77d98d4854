/**
 * A thread's side of its pool's board: it keeps the tasks posted on the lane's channel and,
 * whenever one of its seats is free, takes the next one in board order for itself (see LaneBoard).
 * A free-lane thread has one seat; a GPU type's thread one per task it runs at once. Runs in the
 * worker thread, for as long as the thread lives.
 */
import { BroadcastChannel, parentPort, threadId } from 'node:worker_threads';
import { following, isBefore, LaneBoard } from './lane-board.js';
import { unpackTask } from './lane-tasks.js';
import type { LaneReport, LaneTasks, RunMessage, ServeMessage, WorkerReply } from './protocol.js';

export function serveLane({ firstSeat, seats, lanes, board: buffer, channel: name }: ServeMessage, run: (task: RunMessage) => Promise<WorkerReply>): Promise<never> {
  const board = LaneBoard.attach(buffer, lanes);
  /** This thread's seats with no task, the lowest last (taken first). */
  const free: number[] = [];
  for (let seat = firstSeat + seats - 1; seat >= firstSeat; seat--) {
    board.serve(seat, threadId);
    free.push(seat);
  }
  /** Tasks posted and not yet seen taken, by board index, in index order: their post, and their place in it. */
  const posted = new Map<number, { post: LaneTasks; k: number }>();

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
      const startedAt = performance.now();
      void run(task).then((reply) => {
        reply.runMs = performance.now() - startedAt;
        report({ vramSchedulerLane: 'reply', index: next, reply });
        // Only once the reply is on its way: a thread terminated in between still has its task failed.
        board.finished(seat);
        free.push(seat);
        takeNext();
      });
    }
  };

  const channel = new BroadcastChannel(name);
  channel.onmessage = (event) => {
    const post = (event as { data: LaneTasks }).data;
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
  report({ vramSchedulerLane: 'ready' });
  // Never settles: the thread serves until the pool is destroyed or the thread is terminated.
  return new Promise<never>(() => {});
}

function report(message: LaneReport): void {
  parentPort!.postMessage(message);
}
