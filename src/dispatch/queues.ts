/**
 * Per type, one FIFO per priority. Plain mutable structures on purpose: the supervisor reads
 * them on every dispatch and they must cost O(1) per task, not an XState event each.
 * Removal of a task in the middle (cancel) is lazy: the id is marked and skipped when it
 * reaches the head.
 */
import { PRIORITIES, PRIORITY_RANK, type Priority, type QueueEntry } from '../task.js';

/** A FIFO with O(1) push and shift: a growable ring buffer. */
class Fifo<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  length = 0;

  push(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = item;
    this.length++;
  }

  unshift(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.length++;
  }

  /** Puts `item` at the head, then behind the leading items that `before` says come first. */
  unshiftAfter(item: T, before: (other: T) => boolean): void {
    this.unshift(item);
    const mask = this.items.length - 1;
    for (let i = 0; i + 1 < this.length && before(this.items[(this.head + i + 1) & mask] as T); i++) {
      this.items[(this.head + i) & mask] = this.items[(this.head + i + 1) & mask];
      this.items[(this.head + i + 1) & mask] = item;
    }
  }

  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.items[(this.head + i) & (this.items.length - 1)] as T;
  }

  private grow(): void {
    const next: (T | undefined)[] = new Array(this.items.length * 2);
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = next;
    this.head = 0;
  }
}

/** One type's queue: a FIFO per priority, served most urgent first. */
class TypeQueue {
  /** Indexed by PRIORITY_RANK: 0 = critical … 3 = low. */
  readonly lanes = [new Fifo<QueueEntry>(), new Fifo<QueueEntry>(), new Fifo<QueueEntry>(), new Fifo<QueueEntry>()];
  depth = 0;
  /** Live tasks per submitted priority, by PRIORITY_RANK (the lane is 'normal' for all when priorities are off). */
  readonly byPriority = [0, 0, 0, 0];
}

/** How tasks of one type are ordered. */
export interface QueueOrder {
  /** false: one FIFO per type, in acknowledgement order. */
  priorityScheduling: boolean;
  /** A task waiting this long counts one priority higher per interval; 0 = never. */
  agingMs: number;
}

/** The task that would start next for a type, and the priority rank it counts as now (aged; below 0 once it has aged past critical). */
export interface Head {
  entry: QueueEntry;
  rank: number;
}

const NORMAL = PRIORITY_RANK.normal;

export class TaskQueues {
  private readonly byType = new Map<string, TypeQueue>();
  /** Ids removed while queued; skipped (and forgotten) when they reach a head. */
  private readonly removed = new Set<string>();
  private total = 0;

  constructor(private readonly order: QueueOrder = { priorityScheduling: true, agingMs: 0 }) {}

  /** Appends in acknowledgement order. */
  push(entry: QueueEntry): void {
    this.add(entry, 'back');
  }

  /**
   * Puts a task back at the head of its lane: a preempted task resumes before the tasks behind it.
   * Behind those of its lane acknowledged before it (preempted with it): a batch's tasks come
   * back one by one, the later ones often first, and must start again in their order.
   */
  pushFront(entry: QueueEntry): void {
    this.add(entry, 'front');
  }

  /**
   * The task that would start next for this type: the lane head with the most urgent aged
   * rank, the older on a tie. O(4).
   */
  head(type: string, now = Date.now()): Head | undefined {
    const queue = this.byType.get(type);
    if (!queue || queue.depth === 0) return undefined;
    let best: Head | undefined;
    for (let lane = 0; lane < queue.lanes.length; lane++) {
      const entry = this.liveHead(queue.lanes[lane]!);
      if (!entry) continue;
      const waited = Math.max(0, now - entry.queuedAt);
      // Uncapped: past critical a task keeps rising, so every wait is bounded (oldest first, in the end).
      const rank = this.order.agingMs > 0 ? lane - Math.floor(waited / this.order.agingMs) : lane;
      if (!best || rank < best.rank || (rank === best.rank && entry.seq < best.entry.seq)) best = { entry, rank };
    }
    return best;
  }

  /** The head that would start first among `types`: most urgent aged rank, then oldest. */
  next(types: Iterable<string>, now = Date.now()): Head | undefined {
    let best: Head | undefined;
    for (const type of types) {
      const head = this.head(type, now);
      if (head && (!best || head.rank < best.rank || (head.rank === best.rank && head.entry.seq < best.entry.seq))) best = head;
    }
    return best;
  }

  /** The task that would start next for this type, without taking it. */
  peek(type: string, now?: number): QueueEntry | undefined {
    return this.head(type, now)?.entry;
  }

  /** Takes the task `peek` returns. */
  shift(type: string, now?: number): QueueEntry | undefined {
    const entry = this.peek(type, now);
    if (entry) this.take(entry);
    return entry;
  }

  /** Takes `entry`, which `peek` has just returned (so it heads its lane). */
  take(entry: QueueEntry): void {
    const queue = this.queue(entry.type);
    queue.lanes[this.lane(entry)]!.shift();
    queue.depth--;
    queue.byPriority[PRIORITY_RANK[entry.priority]]!--;
    this.total--;
  }

  /** Marks a queued task removed (lazy deletion). The caller knows it is queued. */
  remove(entry: Pick<QueueEntry, 'id' | 'type' | 'priority'>): void {
    this.removed.add(entry.id);
    const queue = this.queue(entry.type);
    queue.depth--;
    queue.byPriority[PRIORITY_RANK[entry.priority]]!--;
    this.total--;
  }

  depth(type: string): number {
    return this.byType.get(type)?.depth ?? 0;
  }

  /** Queued tasks of one type per priority they were submitted with. O(1). */
  depthByPriority(type: string): Record<Priority, number> {
    const counts = this.byType.get(type)?.byPriority;
    return Object.fromEntries(PRIORITIES.map((p) => [p, counts?.[PRIORITY_RANK[p]] ?? 0])) as Record<Priority, number>;
  }

  /** Tasks queued across all types. */
  get size(): number {
    return this.total;
  }

  /** Types with at least one queued task. */
  *waitingTypes(): IterableIterator<string> {
    for (const [type, queue] of this.byType) if (queue.depth > 0) yield type;
  }

  /** Live entries of one type in start order (for snapshots and tests; O(depth)). */
  *entries(type: string): IterableIterator<QueueEntry> {
    const queue = this.byType.get(type);
    if (!queue) return;
    for (const lane of queue.lanes) for (const entry of lane) if (!this.removed.has(entry.id)) yield entry;
  }

  private add(entry: QueueEntry, end: 'front' | 'back'): void {
    const queue = this.queue(entry.type);
    const lane = queue.lanes[this.lane(entry)]!;
    if (end === 'front') lane.unshiftAfter(entry, (other) => other.seq < entry.seq);
    else lane.push(entry);
    queue.depth++;
    queue.byPriority[PRIORITY_RANK[entry.priority]]!++;
    this.total++;
  }

  private lane(entry: QueueEntry): number {
    return this.order.priorityScheduling ? PRIORITY_RANK[entry.priority] : NORMAL;
  }

  private liveHead(lane: Fifo<QueueEntry>): QueueEntry | undefined {
    let entry = lane.peek();
    while (entry && this.removed.has(entry.id)) {
      this.removed.delete(entry.id);
      lane.shift();
      entry = lane.peek();
    }
    return entry;
  }

  private queue(type: string): TypeQueue {
    let queue = this.byType.get(type);
    if (!queue) {
      queue = new TypeQueue();
      this.byType.set(type, queue);
    }
    return queue;
  }
}

