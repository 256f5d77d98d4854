/** The last few failed tasks, newest first: the scheduler keeps no such list, so the dashboard does. */
import type { TaskResult } from '../task.js';

export interface FailureView {
  id: string;
  type: string;
  code: string;
  message: string;
  /** Epoch ms. */
  finishedAt: number;
  device?: string;
}

/** Long messages (stack traces) are cut: the page shows a line, the full text is in the task's result. */
const MAX_MESSAGE = 500;

/** A fixed-size ring: adding past `capacity` overwrites the oldest. */
export class RecentFailures {
  private readonly ring: (FailureView | undefined)[];
  private next = 0;

  constructor(readonly capacity = 20) {
    this.ring = new Array(capacity);
  }

  add(result: TaskResult): void {
    const message = result.error?.message ?? '';
    const failure: FailureView = {
      id: result.id,
      type: result.type,
      code: result.error?.code ?? 'UNKNOWN',
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
      finishedAt: result.finishedAt,
    };
    if (result.device !== undefined) failure.device = result.device;
    this.ring[this.next] = failure;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): FailureView[] {
    const newestFirst: FailureView[] = [];
    for (let i = 1; i <= this.capacity; i++) {
      const failure = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (failure) newestFirst.push(failure);
    }
    return newestFirst;
  }
}
