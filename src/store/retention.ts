/**
 * Result retention: finished records are deleted by age and by count, oldest first, in small
 * batches in the background, so a long-running app's store does not grow without bound
 * (BullMQ's removeOnComplete/removeOnFail, for every terminal state).
 */
import type { Logger } from 'pino';
import type { TaskStore } from './task-store.js';

export interface RetentionOptions {
  /**
   * Finished records (succeeded, failed, cancelled) older than this, in ms since they ended,
   * are deleted. 0 keeps them whatever their age.
   * @default 0
   */
  maxAgeMs?: number;
  /**
   * At most this many finished records are kept; the oldest beyond it are deleted. 0 keeps
   * any number.
   * @default 100000
   */
  maxCount?: number;
}

export type Retain = Required<RetentionOptions>;

export const DEFAULT_RETAIN: Retain = { maxAgeMs: 0, maxCount: 100_000 };
/** Records deleted per transaction: small, so a prune never holds the write lock for long. */
const BATCH = 500;

export class Retention {
  #running: Promise<void> | undefined;
  #again = false;
  #ageTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly store: TaskStore,
    private readonly retain: Retain,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.retain.maxAgeMs > 0 || this.retain.maxCount > 0;
  }

  /**
   * A record has finished: prune if past maxCount (a count compare, no read: this runs per task).
   * Ages are checked by a timer set for when the oldest record passes maxAgeMs, and at start-up
   * (`checkAge`).
   */
  poke(checkAge = false): void {
    if (!this.enabled || this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (!this.#overCount() && !(checkAge && this.#overAge())) {
      if (this.#ageTimer === undefined && this.retain.maxAgeMs > 0) this.#armAgeTimer();
      return;
    }
    this.#running = this.#prune().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.poke();
      } else this.#armAgeTimer();
    });
  }

  /** Stops pruning and waits for a batch in flight, so the store can close. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#ageTimer);
    await this.#running;
  }

  #overCount(): boolean {
    return this.retain.maxCount > 0 && this.store.finishedCount > this.retain.maxCount;
  }

  #overAge(): boolean {
    const oldest = this.retain.maxAgeMs > 0 ? this.store.oldestFinishedAt() : undefined;
    return oldest !== undefined && oldest < Date.now() - this.retain.maxAgeMs;
  }

  async #prune(): Promise<void> {
    const { maxAgeMs, maxCount } = this.retain;
    try {
      while (!this.#stopped && (this.#overCount() || this.#overAge())) {
        const endedBefore = maxAgeMs > 0 ? Date.now() - maxAgeMs : Number.NEGATIVE_INFINITY;
        const deleted = await this.store.prune({ endedBefore, keep: maxCount > 0 ? maxCount : Number.POSITIVE_INFINITY, limit: BATCH });
        if (deleted === 0) break;
        this.logger.debug({ deleted }, 'retention: deleted finished records');
      }
    } catch (error) {
      this.logger.error({ err: error }, 'retention: could not delete finished records');
    }
  }

  /** Wakes when the oldest kept record passes maxAgeMs. */
  #armAgeTimer(): void {
    clearTimeout(this.#ageTimer);
    this.#ageTimer = undefined;
    if (this.retain.maxAgeMs === 0 || this.#stopped) return;
    const oldest = this.store.oldestFinishedAt();
    if (oldest === undefined) return;
    this.#ageTimer = setTimeout(() => {
      this.#ageTimer = undefined;
      this.poke(true);
    }, Math.max(0, oldest + this.retain.maxAgeMs - Date.now()) + 1);
    this.#ageTimer.unref();
  }
}
