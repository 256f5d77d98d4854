// The raw Piscina (and p-queue) worker of bench/overhead.mjs: the same task as the scheduler's handler.
import { task } from './work.mjs';

export default task;
