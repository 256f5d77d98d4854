/**
 * Startup: what a previous run left behind. Tasks that were running become failed
 * (INTERRUPTED, in the store), or queued again if their type is idempotent; queued tasks come back in their original order, except those
 * that can never start here (their type is gone, or it no longer fits any device).
 */
import type { ResolvedConfig } from './config.js';
import { batchNeedMiB } from './dispatch/batch-need.js';
import { BudgetExceedsDevicesError } from './errors.js';
import type { TaskStore } from './store/task-store.js';
import type { QueueEntry } from './task.js';
import { mibToGb } from './units.js';

export async function recoverQueued(store: TaskStore, config: ResolvedConfig, largestDeviceMiB: number): Promise<QueueEntry[]> {
  const { logger, types } = config;
  const { queued, interrupted } = await store.recover(Date.now(), (record) => types.get(record.type)?.idempotent === true);
  for (const id of interrupted) logger.warn({ id }, 'task was running when the process stopped: marked failed (INTERRUPTED)');
  const resumed: QueueEntry[] = [];
  const failing: Promise<unknown>[] = [];
  for (const entry of queued) {
    const type = types.get(entry.type);
    if (!type) {
      logger.warn({ id: entry.id, type: entry.type }, 'queued task of a type that is no longer configured: left in the store');
      continue;
    }
    const needMiB = type.gpu ? batchNeedMiB(type, entry.vramMiB) : 0;
    if (needMiB > largestDeviceMiB) {
      // Queued forever otherwise, holding up every later task of its type.
      const { code, message } = new BudgetExceedsDevicesError(entry.type, mibToGb(needMiB), mibToGb(largestDeviceMiB), type.threads);
      logger.warn({ id: entry.id, type: entry.type }, message);
      failing.push(store.finish(entry.id, { status: 'failed', error: { code, message }, finishedAt: Date.now() })); // all in one commit
      continue;
    }
    resumed.push(entry);
  }
  await Promise.all(failing);
  if (resumed.length > 0) logger.info({ tasks: resumed.length }, 'resumed queued tasks from the previous run');
  return resumed;
}
