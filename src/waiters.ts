/** Callers of `wait()` for tasks that have not ended yet, by task id. */
import type { TaskResult } from './task.js';

interface Waiter {
  resolve(result: TaskResult): void;
  reject(error: Error): void;
}

export class ResultWaiters {
  private readonly byId = new Map<string, Waiter[]>();

  add(id: string): Promise<TaskResult> {
    return new Promise((resolve, reject) => {
      const list = this.byId.get(id);
      if (list) list.push({ resolve, reject });
      else this.byId.set(id, [{ resolve, reject }]);
    });
  }

  settle(result: TaskResult): void {
    const list = this.byId.get(result.id);
    if (!list) return;
    this.byId.delete(result.id);
    for (const waiter of list) waiter.resolve(result);
  }

  /** On close: tasks that stay queued will not end in this process. */
  rejectAll(error: (id: string) => Error): void {
    for (const [id, list] of this.byId) for (const waiter of list) waiter.reject(error(id));
    this.byId.clear();
  }
}
