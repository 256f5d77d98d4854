/**
 * A pool's board: claimed tasks in claim order, on a SharedArrayBuffer, from which the pool's
 * threads take their next task themselves. A thread that finishes a task takes the next one at
 * once, without a round trip through the main thread, which may be busy committing; the main
 * thread publishes tasks ahead, withdraws one no thread has taken yet (a cancel), and reads which
 * thread took one (a hard stop terminates that thread). A lane here is one seat of a thread: a
 * free-lane thread has one, a GPU type's thread one per task it runs at once.
 *
 * Layout (Int32, Atomics only): [0] the index of the next task to take; [1 + lane] the threadId
 * serving each lane; [1 + lanes + lane] the index each lane's thread holds (-1: none), known
 * even once its slot is reused while a long task runs; per lane, a count and up to MAX_UNPOSTED
 * indices of tasks it finished whose replies its thread has not posted yet (see lane-serve.ts:
 * replies of quick tasks go together, and if the thread dies first those tasks must fail, not
 * wait forever); then a ring of slots, one per index modulo the ring's size. A slot holds the low
 * bits of its index beside a code (ready, withdrawn, taken by lane n), so a thread that read an
 * old index can never take the slot once it has been reused for a newer one. Indices count
 * modulo 2^30, so a scheduler that runs for years never overflows the Int32.
 */

const NEXT = 0;
const CODE_BITS = 10;
const CODE_MASK = (1 << CODE_BITS) - 1;
const TAG_MASK = (1 << (31 - CODE_BITS)) - 1;
const READY = 1;
const WITHDRAWN = 2;
const TAKEN = 3;
const INDEX_MASK = (1 << 30) - 1;
/** No index: a lane's thread that holds no task. */
const NONE = -1;

/** The index after `index`. */
export const following = (index: number): number => (index + 1) & INDEX_MASK;

/** Whether `index` is before `next` (within half the index space: indices wrap). */
export const isBefore = (index: number, next: number): boolean => index !== next && ((next - index) & INDEX_MASK) < 1 << 29;

/** Lanes a board can name in a slot's code. */
export const MAX_LANES = CODE_MASK - TAKEN + 1;

/** Finished tasks a lane may keep with their replies not yet posted: its thread posts them before it finishes more. */
export const MAX_UNPOSTED = 64;

export class LaneBoard {
  private readonly cells: Int32Array;
  private readonly ringStart: number;
  readonly ringSize: number;

  private constructor(readonly buffer: SharedArrayBuffer, readonly lanes: number) {
    this.cells = new Int32Array(buffer);
    this.ringStart = 1 + 2 * lanes + lanes * (1 + MAX_UNPOSTED);
    this.ringSize = this.cells.length - this.ringStart;
  }

  /** A board for `lanes` threads holding up to `ringSize` published tasks not yet taken or skipped; its first index is `first` (tests start near the wrap). */
  static create(lanes: number, ringSize: number, first = 0): LaneBoard {
    if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) throw new RangeError(`a lane board serves 1 to ${MAX_LANES} threads, not ${lanes}`);
    // A power of two divides the index space, so consecutive indices never share a slot across the wrap.
    if (!Number.isInteger(ringSize) || ringSize < 1 || ringSize > TAG_MASK || (ringSize & (ringSize - 1)) !== 0) throw new RangeError(`ring size ${ringSize}: expected a power of two below ${TAG_MASK}`);
    const board = new LaneBoard(new SharedArrayBuffer((1 + 2 * lanes + lanes * (1 + MAX_UNPOSTED) + ringSize) * 4), lanes);
    board.cells[NEXT] = first & INDEX_MASK;
    board.cells.fill(NONE, 1 + lanes, 1 + 2 * lanes);
    return board;
  }

  /** The same board, in a worker thread. */
  static attach(buffer: SharedArrayBuffer, lanes: number): LaneBoard {
    return new LaneBoard(buffer, lanes);
  }

  /** The index of the next task a thread will take. */
  get next(): number {
    return Atomics.load(this.cells, NEXT);
  }

  /** Main thread: `index` may be published only while its slot's previous index is behind `next`. */
  hasRoomFor(index: number): boolean {
    return ((index - this.next) & INDEX_MASK) < this.ringSize;
  }

  /** Main thread: `index` is ready to take (its task was posted to the lane's threads). */
  publish(index: number): void {
    Atomics.store(this.cells, this.slot(index), this.value(index, READY));
  }

  /** Main thread: takes `index` back if no thread has taken it; threads then skip it. */
  withdraw(index: number): boolean {
    const ready = this.value(index, READY);
    return Atomics.compareExchange(this.cells, this.slot(index), ready, this.value(index, WITHDRAWN)) === ready;
  }

  /** The lane whose thread took `index`, or -1 (not taken, withdrawn, or the slot reused). */
  takerOf(index: number): number {
    const cell = Atomics.load(this.cells, this.slot(index));
    return cell >>> CODE_BITS === (index & TAG_MASK) && (cell & CODE_MASK) >= TAKEN ? (cell & CODE_MASK) - TAKEN : -1;
  }

  /**
   * Worker thread: takes `index` (read from `next`) for `lane`. False when it was withdrawn or
   * another thread took it; `next` has then moved past it (this thread helps move it, so a thread
   * that stalls or dies between its two steps holds up no one).
   */
  take(index: number, lane: number): boolean {
    // Held from before the slot names this lane: heldBy() trusts it only once the slot does (or was reused since).
    Atomics.store(this.cells, this.held(lane), index);
    const ready = this.value(index, READY);
    const cell = Atomics.compareExchange(this.cells, this.slot(index), ready, this.value(index, TAKEN + lane));
    if (cell >>> CODE_BITS === (index & TAG_MASK)) Atomics.compareExchange(this.cells, NEXT, index, following(index));
    if (cell !== ready) Atomics.store(this.cells, this.held(lane), NONE);
    return cell === ready;
  }

  /**
   * Worker thread: the task at `index` that `lane` took is done, and its reply waits to be posted
   * (until `posted`). Listed before the lane lets go of it, so a thread terminated in between
   * leaves it listed at least once.
   */
  finished(lane: number, index: number): void {
    const count = Atomics.load(this.cells, this.unpostedStart(lane));
    if (count === MAX_UNPOSTED) throw new RangeError(`lane ${lane} already has ${MAX_UNPOSTED} replies waiting: post them first`);
    Atomics.store(this.cells, this.unpostedStart(lane) + 1 + count, index);
    Atomics.store(this.cells, this.unpostedStart(lane), count + 1);
    Atomics.store(this.cells, this.held(lane), NONE);
  }

  /** Worker thread: the replies of the tasks `lane` finished are posted. */
  posted(lane: number): void {
    Atomics.store(this.cells, this.unpostedStart(lane), 0);
  }

  /**
   * The indices of the tasks `lane`'s thread still owes an answer: the one it runs, and those it
   * finished whose replies it has not posted. A hard stop of one of them, or the thread's death,
   * ends them all.
   */
  owedBy(lane: number): number[] {
    const held = this.heldBy(lane);
    const unposted = this.unposted(lane);
    return held === -1 ? unposted : [held, ...unposted];
  }

  /** The indices of tasks `lane` finished whose replies were not posted. */
  unposted(lane: number): number[] {
    const start = this.unpostedStart(lane);
    const count = Atomics.load(this.cells, start);
    return Array.from({ length: count }, (_, k) => Atomics.load(this.cells, start + 1 + k));
  }

  /**
   * The index whose task the thread of `lane` took and has not finished, or -1. Unlike takerOf()
   * it still knows a task whose slot was reused while it ran (more tasks passed than the ring holds).
   */
  heldBy(lane: number): number {
    const index = Atomics.load(this.cells, this.held(lane));
    if (index === NONE) return -1;
    const cell = Atomics.load(this.cells, this.slot(index));
    const reused = cell >>> CODE_BITS !== (index & TAG_MASK);
    return reused || (cell & CODE_MASK) === TAKEN + lane ? index : -1;
  }

  /**
   * Worker thread: moves `next` past `index` if it was withdrawn, or taken by a thread that did
   * not move `next` itself (it died between its two steps). A thread that started after `index`
   * was posted never got its task, and must still be able to pass it.
   */
  skipPassed(index: number): boolean {
    const cell = Atomics.load(this.cells, this.slot(index));
    if (cell >>> CODE_BITS !== (index & TAG_MASK) || (cell & CODE_MASK) < WITHDRAWN) return false;
    Atomics.compareExchange(this.cells, NEXT, index, following(index));
    return true;
  }

  /** Worker thread: this thread now serves `lane`. */
  serve(lane: number, threadId: number): void {
    Atomics.store(this.cells, this.held(lane), NONE);
    Atomics.store(this.cells, this.unpostedStart(lane), 0);
    Atomics.store(this.cells, 1 + lane, threadId);
  }

  /** The threadId serving `lane` (0 before its thread has started). */
  threadOf(lane: number): number {
    return Atomics.load(this.cells, 1 + lane);
  }

  private held(lane: number): number {
    return 1 + this.lanes + lane;
  }

  private unpostedStart(lane: number): number {
    return 1 + 2 * this.lanes + lane * (1 + MAX_UNPOSTED);
  }

  private slot(index: number): number {
    return this.ringStart + (index & (this.ringSize - 1));
  }

  private value(index: number, code: number): number {
    return ((index & TAG_MASK) << CODE_BITS) | code;
  }
}
