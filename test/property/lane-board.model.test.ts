/**
 * Model-based test of the free lane's board (single thread): the main thread publishes and
 * withdraws, simulated lane threads take, skip and retry with stale indices. After every command
 * the board must agree with a plain list of slots: promise 3 (threads take tasks in publishing
 * order, withdrawn ones skipped) and promise 4 (no task is taken twice, none withdrawn after a
 * thread took it). A lane's finished tasks whose replies are not posted are known exactly, so a
 * thread that dies holding replies fails those tasks (promise 4: none waits forever). Small rings
 * make slots be reused often; some runs start just before the indices wrap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { following, isBefore, LaneBoard, MAX_UNPOSTED } from '../../src/threads/lane-board.js';
import { runs } from '../support/fast-check-setup.js';

type Status = { kind: 'ready' } | { kind: 'withdrawn' } | { kind: 'taken'; lane: number };
interface Model {
  ringSize: number;
  lanes: number;
  /** The board's first index. */
  first: number;
  /** Every index published, oldest first, with its status. */
  slots: { index: number; status: Status }[];
  /** Position in `slots` of the next index a thread takes (slots.length when none is left). */
  next: number;
  /** Per lane, the index its thread took and has not finished (a thread runs one task at a time). */
  held: (number | undefined)[];
  /** Per lane, the indices it finished whose replies are not posted yet. */
  unposted: number[][];
}
type Cmd = fc.Command<Model, LaneBoard>;

/** The index published after the last one (or the first). */
const following_ = (m: Model): number => (m.slots.length === 0 ? m.first : following(m.slots[m.slots.length - 1]!.index));

/** Position in `slots` of a published index, or -1 (the next index to publish). */
const positionOf = (m: Model, index: number): number => m.slots.findIndex((s) => s.index === index);

function checkAgreement(m: Model, board: LaneBoard): void {
  // The board may still point at withdrawn slots the model's threads have not passed yet.
  const at = positionOf(m, board.next);
  const position = at === -1 ? m.slots.length : at;
  expect(position).toBeLessThanOrEqual(m.next);
  for (let p = position; p < m.next; p++) expect(m.slots[p]!.status.kind).toBe('withdrawn');
  // Only the newest ringSize slots still hold their own index; older ones were passed and may be reused.
  for (const { index, status } of m.slots.slice(-m.ringSize)) {
    expect(board.takerOf(index)).toBe(status.kind === 'taken' ? status.lane : -1);
  }
  // What a lane's thread holds is known even once its slot was reused (a long task).
  for (let lane = 0; lane < m.lanes; lane++) expect(board.heldBy(lane)).toBe(m.held[lane] ?? -1);
  // What a lane finished and has not posted is known exactly, however far other lanes went.
  for (let lane = 0; lane < m.lanes; lane++) expect(board.unposted(lane)).toEqual(m.unposted[lane] ?? []);
  for (let lane = 0; lane < m.lanes; lane++) expect(board.owedBy(lane)).toEqual([...(m.held[lane] === undefined ? [] : [m.held[lane]]), ...(m.unposted[lane] ?? [])]);
}

class Publish implements Cmd {
  check = () => true;
  run(m: Model, board: LaneBoard): void {
    const index = following_(m);
    const at = positionOf(m, board.next);
    const unpassed = m.slots.length - (at === -1 ? m.slots.length : at);
    expect(board.hasRoomFor(index)).toBe(unpassed < m.ringSize);
    if (unpassed >= m.ringSize) return;
    board.publish(index);
    m.slots.push({ index, status: { kind: 'ready' } });
    checkAgreement(m, board);
  }
  toString = () => 'publish';
}

class Withdraw implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.slots.length > 0;
  run(m: Model, board: LaneBoard): void {
    // Among the newest ringSize slots: the main thread withdraws only tasks it still waits for.
    const recent = m.slots.slice(-m.ringSize);
    const slot = recent[this.pick % recent.length]!;
    expect(board.withdraw(slot.index)).toBe(slot.status.kind === 'ready');
    if (slot.status.kind === 'ready') slot.status = { kind: 'withdrawn' };
    checkAgreement(m, board);
  }
  toString = () => `withdraw(${this.pick})`;
}

/** An idle lane thread that holds every published task takes the next one, as lane-serve.ts does. */
class Take implements Cmd {
  constructor(readonly lane: number) {}
  check = (m: Readonly<Model>) => m.held[this.lane % m.lanes] === undefined;
  run(m: Model, board: LaneBoard): void {
    const lane = this.lane % m.lanes;
    while (m.next < m.slots.length && m.slots[m.next]!.status.kind === 'withdrawn') m.next++;
    const expected = m.slots[m.next];
    let took: number | undefined;
    for (;;) {
      const index = board.next;
      if (positionOf(m, index) === -1) break; // nothing published there yet
      if (board.take(index, lane)) {
        took = index;
        break;
      }
    }
    expect(took).toBe(expected?.index);
    if (expected) {
      expected.status = { kind: 'taken', lane };
      m.next++;
      m.held[lane] = expected.index;
    }
    checkAgreement(m, board);
  }
  toString = () => `take(lane ${this.lane})`;
}

/** A thread that read `next` long ago tries an index already passed: it takes nothing and moves nothing. */
class StaleTake implements Cmd {
  constructor(readonly lane: number, readonly back: number) {}
  check = (m: Readonly<Model>) => m.next > 0 && m.held[this.lane % m.lanes] === undefined;
  run(m: Model, board: LaneBoard): void {
    const before = board.next;
    const slot = m.slots[m.next - 1 - (this.back % m.next)]!;
    expect(board.take(slot.index, this.lane % m.lanes)).toBe(false);
    expect(board.next).toBe(before);
    checkAgreement(m, board);
  }
  toString = () => `staleTake(lane ${this.lane}, back ${this.back})`;
}

/** A lane's thread finished its task: it holds none, and the task waits for its reply to be posted. */
class Finish implements Cmd {
  constructor(readonly lane: number) {}
  check = (m: Readonly<Model>) => m.held[this.lane % m.lanes] !== undefined;
  run(m: Model, board: LaneBoard): void {
    const lane = this.lane % m.lanes;
    const unposted = (m.unposted[lane] ??= []);
    if (unposted.length === MAX_UNPOSTED) {
      expect(() => board.finished(lane, m.held[lane]!)).toThrow(RangeError);
      return;
    }
    board.finished(lane, m.held[lane]!);
    unposted.push(m.held[lane]!);
    m.held[lane] = undefined;
    checkAgreement(m, board);
  }
  toString = () => `finish(lane ${this.lane})`;
}

/** A lane's thread posted the replies waiting. */
class PostReplies implements Cmd {
  constructor(readonly lane: number) {}
  check = () => true;
  run(m: Model, board: LaneBoard): void {
    const lane = this.lane % m.lanes;
    board.posted(lane);
    m.unposted[lane] = [];
    checkAgreement(m, board);
  }
  toString = () => `postReplies(lane ${this.lane})`;
}

/** A thread started after the task at `next` was posted: it can pass it only if it was withdrawn (a taken one is passed already). */
class SkipUnseen implements Cmd {
  check = () => true;
  run(m: Model, board: LaneBoard): void {
    const at = positionOf(m, board.next);
    const withdrawn = at !== -1 && m.slots[at]!.status.kind === 'withdrawn';
    expect(board.skipPassed(board.next)).toBe(withdrawn);
    if (withdrawn && m.next === at) m.next++;
    checkAgreement(m, board);
  }
  toString = () => 'skipUnseen';
}

const WRAP = 2 ** 30;

const commands = [
  fc.constant(new Publish()),
  fc.nat().map((pick) => new Withdraw(pick)),
  fc.nat(3).map((lane) => new Take(lane)),
  fc.tuple(fc.nat(3), fc.nat()).map(([lane, back]) => new StaleTake(lane, back)),
  fc.constant(new SkipUnseen()),
  fc.nat(3).map((lane) => new Finish(lane)),
  fc.nat(3).map((lane) => new PostReplies(lane)),
];

describe('LaneBoard (model-based)', () => {
  it('threads take published tasks once each, in publishing order, and never a withdrawn one', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.constantFrom(0, WRAP - 3), fc.integer({ min: 1, max: 4 }), fc.commands(commands, { size: 'large' }), (ringSize, first, lanes, cmds) => {
        const model: Model = { ringSize, lanes, first, slots: [], next: 0, held: [], unposted: [] };
        fc.modelRun(() => ({ model, real: LaneBoard.create(lanes, ringSize, first) }), cmds);
      }),
      { numRuns: runs(150) },
    );
  });

  it('a thread that died after taking its slot, before moving `next`, holds up no one: the next thread passes it', () => {
    const board = LaneBoard.create(1, 4);
    board.publish(0);
    board.publish(1);
    expect(board.take(0, 0)).toBe(true);
    new Int32Array(board.buffer)[0] = 0; // cell 0 is `next`: as if the taker had died before moving it
    expect(board.skipPassed(0)).toBe(true); // the replacement thread never got task 0's message
    expect(board.next).toBe(1);
    expect(board.take(1, 0)).toBe(true);
    expect(board.skipPassed(board.next)).toBe(false); // index 2 is not published: nothing to pass
  });

  it(`keeps at most ${MAX_UNPOSTED} finished tasks per lane waiting for their replies to be posted`, () => {
    const board = LaneBoard.create(2, 128);
    for (let index = 0; index < MAX_UNPOSTED; index++) {
      board.publish(index);
      expect(board.take(index, 1)).toBe(true);
      board.finished(1, index);
    }
    board.publish(MAX_UNPOSTED);
    expect(board.take(MAX_UNPOSTED, 1)).toBe(true);
    expect(() => board.finished(1, MAX_UNPOSTED)).toThrow(/post them first/);
    expect(board.heldBy(1)).toBe(MAX_UNPOSTED); // nothing half-done: the lane still holds it
    expect(board.unposted(1)).toHaveLength(MAX_UNPOSTED);
    expect(board.unposted(0)).toEqual([]);
    board.posted(1);
    board.finished(1, MAX_UNPOSTED);
    expect(board.unposted(1)).toEqual([MAX_UNPOSTED]);
  });

  it('counts indices modulo 2^30: after the last index comes 0, and 0 is after it', () => {
    expect(following(WRAP - 1)).toBe(0);
    expect(isBefore(WRAP - 1, 0)).toBe(true);
    expect(isBefore(0, WRAP - 1)).toBe(false);
    expect(isBefore(5, 5)).toBe(false);
  });
});
