// The scheduler's handler in bench/overhead.mjs: the same task as the raw Piscina worker.
import { defineHandler } from 'vram-scheduler/worker';
import { task } from './work.mjs';

export default defineHandler((payload) => task(payload));
