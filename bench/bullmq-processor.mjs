// BullMQ's sandboxed processor in bench/overhead.mjs: the same task as the other contenders' handlers.
import { task } from './work.mjs';

export default async function process(job) {
  return task(job.data);
}
