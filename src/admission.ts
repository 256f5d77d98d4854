/**
 * What a submit is checked against besides its own arguments: the per-type depth limit
 * (counting submits still being written, so a burst cannot overshoot it) and the
 * deduplication keys of live (queued or running) tasks.
 */
import { QueueFullError } from './errors.js';

interface KeyHolder {
  id: string;
  /** The holder's own submit: a duplicate is answered once the holder is stored. */
  stored: Promise<void>;
}

const keyOf = (type: string, key: string) => `${type}\u0000${key}`;

export class Admission {
  private readonly keys = new Map<string, KeyHolder>();
  private readonly writingByType = new Map<string, number>();
  /** Submits being written, all types: drain() and close() wait for them. */
  writing = 0;

  /**
   * The live task of this type holding `key`: undefined when there is none, else a promise of
   * its id once it is stored (undefined if its submit failed after all).
   */
  holderOf(type: string, key: string | undefined): Promise<string | undefined> | undefined {
    const holder = key === undefined ? undefined : this.keys.get(keyOf(type, key));
    return holder?.stored.then(() => holder.id, () => undefined);
  }

  /**
   * Writes a new task through `write` if the type's queue has room; throws QueueFullError
   * (nothing written) when `queued` plus the submits being written reach `maxDepth`.
   */
  async admit(task: { id: string; type: string; key: string | undefined }, queued: number, maxDepth: number, write: () => Promise<void>): Promise<void> {
    const writing = this.writingByType.get(task.type) ?? 0;
    if (queued + writing >= maxDepth) throw new QueueFullError(task.type, maxDepth);
    this.writingByType.set(task.type, writing + 1);
    this.writing++;
    const stored = write();
    if (task.key !== undefined) this.keys.set(keyOf(task.type, task.key), { id: task.id, stored });
    try {
      await stored;
    } catch (error) {
      this.forget(task.type, task.key);
      throw error;
    } finally {
      this.writingByType.set(task.type, (this.writingByType.get(task.type) ?? 1) - 1);
      this.writing--;
    }
  }

  /** A task recovered from the store holds its key again. */
  restore(task: { id: string; type: string; key?: string | undefined }): void {
    if (task.key !== undefined) this.keys.set(keyOf(task.type, task.key), { id: task.id, stored: Promise.resolve() });
  }

  /** The task ended: its key is free. */
  forget(type: string, key: string | undefined): void {
    if (key !== undefined) this.keys.delete(keyOf(type, key));
  }
}
