/**
 * The free lane's threads, fed through a board (see LaneBoard) instead of one Piscina task per
 * task. Claimed tasks are published ahead, those of one event-loop turn in one post on the lane's
 * BroadcastChannel (their bytes in shared memory: see lane-tasks.ts), and each thread takes the
 * next one for itself the moment it is idle: a thread's next task never waits for the main
 * thread, which may be busy committing. Piscina hosts the threads: each runs one `serve` task for
 * as long as it lives, started again when its thread dies.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { TaskStops } from '../actors/task-controls.js';
import { MAX_CLAIM_AHEAD } from '../dispatch/thread-slots.js';
import { ErrorCode } from '../errors.js';
import { following, LaneBoard } from './lane-board.js';
import { encodeTask, packTasks } from './lane-tasks.js';
import type { LaneReport, RunMessage, ServeMessage, WorkerReply } from './protocol.js';

interface Handed {
  task: RunMessage;
  /** Its bytes, once published (kept to post them again to a thread that starts later). */
  encoded?: Uint8Array;
  /** Its board index once published; -1 before. */
  index: number;
  /** Answered, withdrawn or failed: later stops do nothing. */
  done: boolean;
  answer(reply: WorkerReply): void;
  fail(error: unknown): void;
}

/** How long a full ring waits before trying to publish again (only a storm of cancels while every thread is busy fills it). */
const FULL_RING_RETRY_MS = 1;

export class FreeLaneThreads {
  private readonly board: LaneBoard;
  private readonly channel: BroadcastChannel;
  /** Published and not yet answered or withdrawn, by board index, in publishing order. */
  private readonly published = new Map<number, Handed>();
  /** Handed over this turn (or while the ring was full): published together at the end of the turn. */
  private unpublished: Handed[] = [];
  private nextIndex: number;
  private publishing = false;
  /** The one timer that tries again while the ring is full. */
  private retrying: NodeJS.Timeout | undefined;
  /** Lanes whose thread is being terminated on purpose (a hard stop): not reported as failures. */
  private readonly terminating = new Set<number>();
  /** Lanes whose thread died before it listened: started again by the next run (no restart loop). */
  private readonly down = new Set<number>();
  private closed = false;

  constructor(
    private readonly pool: Piscina,
    private readonly lanes: number,
    private readonly channelName: string,
    /** A thread died while it ran no task (a handler's leftover timer threw); a fresh one replaces it. */
    private readonly threadFailed: (error: unknown) => void,
  ) {
    this.board = LaneBoard.create(lanes, ringSizeFor(lanes));
    this.nextIndex = this.board.next;
    this.channel = new BroadcastChannel(channelName);
    this.channel.unref();
    for (let lane = 0; lane < lanes; lane++) this.serve(lane);
  }

  /** Runs one task on the next idle thread. Rejects when it was withdrawn (asked to stop before a thread took it) or its thread died. */
  run(task: RunMessage, stops?: TaskStops): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('the free lane is closed'));
    for (const lane of this.down) this.serve(lane);
    this.down.clear();
    return new Promise<WorkerReply>((answer, fail) => {
      const handed: Handed = { task, index: -1, done: false, answer, fail };
      this.unpublished.push(handed);
      this.publishSoon();
      stops?.asked.addEventListener('abort', () => this.withdraw(handed));
      stops?.hardStop.addEventListener('abort', () => this.stopHard(handed));
    });
  }

  /** What a lane thread reported (through Piscina's 'message'). */
  report(message: LaneReport): void {
    if (message.vramSchedulerLane === 'ready') {
      this.postAgain();
      return;
    }
    const handed = this.published.get(message.index);
    if (handed === undefined) return; // failed already: its thread was reported dead first
    this.published.delete(message.index);
    handed.done = true;
    handed.answer(message.reply);
    if (this.unpublished.length > 0) this.publishSoon();
  }

  /** Fails what was never answered. Call after the tasks have finished; the pool is destroyed by its owner. */
  close(): void {
    this.closed = true;
    this.channel.close();
    const error = new Error('the free lane closed before this task was answered');
    for (const handed of [...this.unpublished, ...this.published.values()]) this.settle(handed, error);
    this.unpublished = [];
    this.published.clear();
  }

  private serve(lane: number): void {
    const message: ServeMessage = { op: 'serve', lane, lanes: this.lanes, board: this.board.buffer, channel: this.channelName };
    const started = this.board.threadOf(lane);
    this.pool.run(message).catch((error: unknown) => {
      if (this.closed) return;
      const listened = this.board.threadOf(lane) !== started;
      if (!this.failTaken(lane, error) && !this.terminating.has(lane)) this.threadFailed(error);
      this.terminating.delete(lane);
      if (listened) this.serve(lane);
      else {
        // The thread could not start: it is started again by the next run, not in a loop. What
        // waits, and what the other lanes' threads run, is theirs; with none left, it fails.
        this.down.add(lane);
        if (this.down.size < this.lanes) return;
        for (const handed of [...this.unpublished, ...this.published.values()]) this.settle(handed, error);
        this.unpublished = [];
        this.published.clear();
      }
    });
  }

  /** Fails the task the dead thread of `lane` had taken, if any; true when there was one. */
  private failTaken(lane: number, error: unknown): boolean {
    const index = this.board.heldBy(lane);
    const handed = index === -1 ? undefined : this.published.get(index);
    if (handed === undefined) return false;
    this.published.delete(index);
    this.settle(handed, error);
    return true;
  }

  private withdraw(handed: Handed): void {
    if (handed.done) return;
    // Not yet published, it is skipped at publishing; published, only a thread's take can beat this.
    if (handed.index !== -1) {
      if (!this.board.withdraw(handed.index)) return; // a thread runs it: the abort reaches its ctx.signal
      this.published.delete(handed.index);
    }
    this.settle(handed, new Error('withdrawn: asked to stop before a thread took it'));
  }

  private stopHard(handed: Handed): void {
    this.withdraw(handed);
    if (handed.done) return;
    let lane = 0;
    while (lane < this.lanes && this.board.heldBy(lane) !== handed.index) lane++;
    if (lane === this.lanes) return; // it has just ended: its reply is on its way
    const threadId = this.board.threadOf(lane);
    const thread = this.pool.threads.find((t) => t.threadId === threadId);
    if (!thread) return;
    this.terminating.add(lane);
    void thread.terminate(); // its serve task rejects: failTaken() fails this task
  }

  private settle(handed: Handed, error: unknown): void {
    if (handed.done) return;
    handed.done = true;
    handed.fail(error);
  }

  private publishSoon(): void {
    if (this.publishing) return;
    this.publishing = true;
    queueMicrotask(() => this.publish());
  }

  /** Publishes the turn's tasks in one post, as far as the ring has room. */
  private publish(): void {
    this.publishing = false;
    if (this.closed) return;
    const encoded: Uint8Array[] = [];
    const first = this.nextIndex;
    let taken = 0;
    for (const handed of this.unpublished) {
      // A task withdrawn before it was published needs no slot: it never waits for room.
      if (!handed.done && !this.board.hasRoomFor(this.nextIndex)) break;
      taken++;
      if (handed.done) continue;
      try {
        handed.encoded = encodeTask(handed.task);
      } catch (error) {
        // Structured clone (submit's check) accepts what this cannot send (a SharedArrayBuffer, a
        // Blob): the task fails for its payload, not as a crash to retry.
        handed.done = true;
        handed.answer({ ok: false, error: { code: ErrorCode.INVALID_PAYLOAD, message: `the free lane cannot send this payload to its threads (${error instanceof Error ? error.message : String(error)}): send plain data` } });
        continue;
      }
      handed.index = this.nextIndex;
      this.published.set(handed.index, handed);
      this.board.publish(handed.index);
      encoded.push(handed.encoded);
      this.nextIndex = following(this.nextIndex);
    }
    this.unpublished = taken === this.unpublished.length ? [] : this.unpublished.slice(taken);
    if (encoded.length > 0) this.channel.postMessage(packTasks(first, encoded));
    if (this.unpublished.length > 0 && this.retrying === undefined) {
      this.retrying = setTimeout(() => {
        this.retrying = undefined;
        this.publishSoon();
      }, FULL_RING_RETRY_MS).unref();
    }
  }

  /** A thread started listening: posts again what was published before, so it can take those too. */
  private postAgain(): void {
    let run: { first: number; encoded: Uint8Array[] } | undefined;
    const post = (): void => void (run && this.channel.postMessage(packTasks(run.first, run.encoded)));
    for (const [index, handed] of this.published) {
      if (run && index === following(run.first + run.encoded.length - 1)) run.encoded.push(handed.encoded!);
      else {
        post();
        run = { first: index, encoded: [handed.encoded!] };
      }
    }
    post();
  }
}

/** Room for every task the lane may hold claimed, twice over: withdrawn ones keep their slot until a thread passes them. */
function ringSizeFor(lanes: number): number {
  let size = 1;
  while (size < 2 * (lanes + MAX_CLAIM_AHEAD)) size *= 2;
  return size;
}
