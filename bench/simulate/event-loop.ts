/**
 * A discrete-event loop under a simulated clock: callbacks run in time order (ties in the order
 * they were scheduled) and `now` jumps from one event to the next, so hours of cluster time
 * take milliseconds and no real waiting happens.
 */
interface Scheduled {
  at: number;
  seq: number;
  run: () => void;
}

export class EventLoop {
  now = 0;
  private readonly heap: Scheduled[] = [];
  private seq = 0;

  /** Runs `run` at simulated time `at` (not before now). */
  at(at: number, run: () => void): void {
    this.push({ at: Math.max(at, this.now), seq: this.seq++, run });
  }

  after(ms: number, run: () => void): void {
    this.at(this.now + ms, run);
  }

  /**
   * Runs events until none is left. `before(t)` sees each event's time before the clock moves
   * there (to integrate what held between events); `after()` runs after each event (to check
   * invariants).
   */
  run(hooks: { before?: (at: number) => void; after?: () => void } = {}): void {
    for (let next = this.pop(); next; next = this.pop()) {
      hooks.before?.(next.at);
      this.now = next.at;
      next.run();
      hooks.after?.();
    }
  }

  private push(item: Scheduled): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): Scheduled | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && earlier(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && earlier(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function earlier(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
