/**
 * The process-wide scheduler. A product wraps `getScheduler` to inject its own options
 * (the "shim" pattern) and re-exports `resetScheduler` for its shutdown hook.
 */
import { InvalidOptionsError } from './errors.js';
import type { SchedulerOptions } from './options.js';
import { createScheduler, type Scheduler } from './scheduler.js';

let instance: Promise<Scheduler> | undefined;
/** A reset in progress: the next instance opens the same data directory only after it. */
let resetting: Promise<void> = Promise.resolve();

/**
 * Returns the process's scheduler, creating it on the first call (which must pass options).
 * Concurrent first calls resolve to the same instance; later options are ignored.
 */
export function getScheduler(options?: SchedulerOptions): Promise<Scheduler> {
  if (!instance) {
    if (options === undefined) {
      return Promise.reject(new InvalidOptionsError('The first getScheduler() call must pass options (at least `types`)'));
    }
    const creating = resetting.then(() => createScheduler(options));
    instance = creating;
    // A failed creation must not poison the singleton: the next call tries again.
    creating.catch(() => {
      if (instance === creating) instance = undefined;
    });
  }
  return instance;
}

/** Closes the process's scheduler (running tasks finish, every lease is returned); the next getScheduler() builds a new one. */
export function resetScheduler(): Promise<void> {
  const current = instance;
  instance = undefined;
  if (!current) return resetting;
  resetting = current.then(
    (scheduler) => scheduler.close(),
    () => undefined,
  );
  return resetting;
}
