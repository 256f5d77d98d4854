/**
 * A pool's threads, fed through a board (see LaneBoard) instead of one Piscina task per task: the
 * free lane's threads (one task each at a time), or a GPU type's threads (`perThread` tasks at once
 * in each, its model loaded once per thread). Each thread has `perThread` seats on the board.
 * Claimed tasks are published ahead, those of one event-loop turn in one post on the lane's
 * BroadcastChannel (their bytes in shared memory: see lane-tasks.ts), and a thread with a free seat
 * takes the next one for itself: its next task never waits for the main thread, which may be busy
 * committing. Piscina hosts the threads: each runs one `serve` task for as long as it lives, started
 * again when its thread dies.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { TaskStops } from '../actors/task-controls.js';
import { MAX_CLAIM_AHEAD } from '../dispatch/claim-ahead.js';
import { ErrorCode } from '../errors.js';
import { following, LaneBoard } from './lane-board.js';
import { encodeTask, packTasks } from './lane-tasks.js';
import type { LaneReport, LaneUnload, RunMessage, ServeMessage, WorkerReply } from './protocol.js';

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

export interface LaneThreadsOptions {
  pool: Piscina;
  /** Threads in the pool. */
  threads: number;
  /** Tasks a thread runs at once: its seats on the board. */
  perThread: number;
  /** The lane's BroadcastChannel name (unique in the process). */
  channel: string;
  /** A thread died while it ran no task and held no reply (a handler's leftover timer threw); a fresh one replaces it. */
  threadFailed(error: unknown): void;
  /** Tests only: how short a quick task is (ms; default QUICK_MS in lane-serve.ts). Infinity makes every task quick, so a race the default leaves to timing happens every time. */
  quickMs?: number;
}

export class LaneThreads {
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
  /** Threads (by number) being terminated on purpose (a hard stop): not reported as failures. */
  private readonly terminating = new Set<number>();
  /** Threads that died before they listened: started again by the next run (no restart loop). */
  private readonly down = new Set<number>();
  /** Threads (by number) listening on the lane's channel: an unload waits for each of them. */
  private readonly listening = new Set<number>();
  /** Unloads posted and not yet done, by id: the threads still to report theirs. */
  private readonly unloads = new Map<number, { waiting: Set<number>; done(): void }>();
  private lastUnload = 0;
  private closed = false;
  /** Seats on the board: threads × perThread. */
  private readonly seats: number;

  constructor(private readonly options: LaneThreadsOptions) {
    this.seats = options.threads * options.perThread;
    this.board = LaneBoard.create(this.seats, ringSizeFor(this.seats));
    this.nextIndex = this.board.next;
    this.channel = new BroadcastChannel(options.channel);
    this.channel.unref();
    for (let thread = 0; thread < options.threads; thread++) this.serve(thread);
  }

  /** Runs one task in the next free seat. Rejects when it was withdrawn (asked to stop before a thread took it) or its thread died. */
  run(task: RunMessage, stops?: TaskStops): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('the lane is closed'));
    for (const thread of this.down) this.serve(thread);
    this.down.clear();
    return new Promise<WorkerReply>((answer, fail) => {
      const handed: Handed = { task, index: -1, done: false, answer, fail };
      this.unpublished.push(handed);
      this.publishSoon();
      stops?.asked.addEventListener('abort', () => this.withdraw(handed));
      stops?.hardStop.addEventListener('abort', () => this.stopHard(handed));
    });
  }

  /**
   * A GPU type's batch is over: each thread listening runs the handler's `unload()` and forgets its
   * model. Resolves once each has, or has died (its model went with it). A thread that starts
   * listening later has loaded nothing.
   */
  unload(type: string): Promise<void> {
    if (this.closed || this.listening.size === 0) return Promise.resolve();
    const id = ++this.lastUnload;
    return new Promise<void>((done) => {
      this.unloads.set(id, { waiting: new Set(this.listening), done });
      this.channel.postMessage({ unload: type, id } satisfies LaneUnload);
    });
  }

  /** What a lane thread reported (through Piscina's 'message'). */
  report(message: LaneReport): void {
    if (message.vramSchedulerLane === 'ready') {
      this.listening.add(this.threadAt(message.firstSeat));
      this.postAgain();
      return;
    }
    if (message.vramSchedulerLane === 'unloaded') {
      this.unloaded(message.id, this.threadAt(message.firstSeat));
      return;
    }
    for (const { index, reply } of message.replies) {
      const handed = this.published.get(index);
      if (handed === undefined) continue; // failed already: its thread was reported dead first
      this.published.delete(index);
      handed.done = true;
      handed.answer(reply);
    }
    if (this.unpublished.length > 0) this.publishSoon();
  }

  /** Fails what was never answered. Call after the tasks have finished; the pool is destroyed by its owner. */
  close(): void {
    this.closed = true;
    this.channel.close();
    for (const { done } of this.unloads.values()) done();
    this.unloads.clear();
    const error = new Error('the lane closed before this task was answered');
    for (const handed of [...this.unpublished, ...this.published.values()]) this.settle(handed, error);
    this.unpublished = [];
    this.published.clear();
  }

  private serve(thread: number): void {
    const { pool, perThread, threads, channel } = this.options;
    const firstSeat = thread * perThread;
    const message: ServeMessage = { firstSeat, seats: perThread, lanes: this.seats, board: this.board.buffer, channel };
    if (this.options.quickMs !== undefined) message.quickMs = this.options.quickMs;
    const started = this.board.threadOf(firstSeat);
    pool.run(message).catch((error: unknown) => {
      if (this.closed) return;
      this.listening.delete(thread);
      for (const id of [...this.unloads.keys()]) this.unloaded(id, thread);
      const listened = this.board.threadOf(firstSeat) !== started;
      if (!this.failTaken(thread, error) && !this.terminating.has(thread)) this.options.threadFailed(error);
      this.terminating.delete(thread);
      if (listened) this.serve(thread);
      else {
        // The thread could not start: it is started again by the next run, not in a loop. What
        // waits, and what the other threads run, is theirs; with none left, it fails.
        this.down.add(thread);
        if (this.down.size < threads) return;
        for (const handed of [...this.unpublished, ...this.published.values()]) this.settle(handed, error);
        this.unpublished = [];
        this.published.clear();
      }
    });
  }

  private threadAt(firstSeat: number): number {
    return firstSeat / this.options.perThread;
  }

  /** `thread` has unloaded (or died): the unload is done once no thread is left to. */
  private unloaded(id: number, thread: number): void {
    const unload = this.unloads.get(id);
    if (!unload?.waiting.delete(thread) || unload.waiting.size > 0) return;
    this.unloads.delete(id);
    unload.done();
  }

  /** Fails the tasks the dead thread had taken, in any of its seats, running or with their replies not posted; true when there were any. */
  private failTaken(thread: number, error: unknown): boolean {
    let failed = false;
    const { perThread } = this.options;
    for (let seat = thread * perThread; seat < (thread + 1) * perThread; seat++) {
      for (const index of this.board.owedBy(seat)) {
        const handed = this.published.get(index);
        if (handed === undefined) continue;
        this.published.delete(index);
        this.settle(handed, error);
        failed = true;
      }
    }
    return failed;
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
    // The seat that runs it, or whose thread holds its reply behind a task that keeps the thread busy.
    let seat = 0;
    while (seat < this.seats && !this.board.owedBy(seat).includes(handed.index)) seat++;
    if (seat === this.seats) return; // it has just ended: its reply is on its way
    const threadId = this.board.threadOf(seat);
    const worker = this.options.pool.threads.find((t) => t.threadId === threadId);
    if (!worker) return;
    this.terminating.add(Math.floor(seat / this.options.perThread));
    void worker.terminate(); // its serve task rejects: failTaken() fails the tasks it ran
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
        handed.answer({ ok: false, error: { code: ErrorCode.INVALID_PAYLOAD, message: `this payload cannot be sent to the task's thread (${error instanceof Error ? error.message : String(error)}): send plain data` } });
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
function ringSizeFor(seats: number): number {
  let size = 1;
  while (size < 2 * (seats + MAX_CLAIM_AHEAD)) size *= 2;
  return size;
}
