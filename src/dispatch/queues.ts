/**
 * Per type, one FIFO per priority. Plain mutable structures on purpose: the supervisor reads
 * them on every dispatch and they must cost O(1) per task, not an XState event each.
 * Removal of a task in the middle (cancel) is lazy: the id is marked and skipped when it
 * reaches the head.
 */
import { PRIORITY_RANK, type QueueEntry } from '../task.js';

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
}

export class TaskQueues {
  private readonly byType = new Map<string, TypeQueue>();
  /** Ids removed while queued; skipped (and forgotten) when they reach a head. */
  private readonly removed = new Set<string>();
  private total = 0;

  /** Appends in acknowledgement order. */
  push(entry: QueueEntry): void {
    const queue = this.queue(entry.type);
    queue.lanes[PRIORITY_RANK[entry.priority]]!.push(entry);
    queue.depth++;
    this.total++;
  }

  /** The task that would start next for this type, without taking it. */
  peek(type: string): QueueEntry | undefined {
    const queue = this.byType.get(type);
    if (!queue || queue.depth === 0) return undefined;
    for (const lane of queue.lanes) {
      const entry = this.liveHead(lane);
      if (entry) return entry;
    }
    return undefined;
  }

  /** Takes the next task of this type. */
  shift(type: string): QueueEntry | undefined {
    const entry = this.peek(type);
    if (!entry) return undefined;
    this.queue(type).lanes[PRIORITY_RANK[entry.priority]]!.shift();
    this.queue(type).depth--;
    this.total--;
    return entry;
  }

  /** Marks a queued task removed (lazy deletion). The caller knows it is queued. */
  remove(entry: QueueEntry): void {
    this.removed.add(entry.id);
    this.queue(entry.type).depth--;
    this.total--;
  }

  depth(type: string): number {
    return this.byType.get(type)?.depth ?? 0;
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

