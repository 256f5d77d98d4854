// The raw Piscina worker of bench/throughput.mjs: the same task as the scheduler's handler.
import { task } from './work.mjs';

export default task;
