/** The shapes a simulation runs on: task types, tasks, traces and clusters. Times in ms, VRAM in MiB. */
import type { Priority } from '../../dist/task.js';

export type { Priority };

export interface TypeSpec {
  name: string;
  vramMiB: number;
  /** Model load, paid by the first task of every batch (the real worker loads lazily on its first run). */
  loadMs: number;
  /** Model unload, after which the lease returns. */
  unloadMs: number;
  /** Tasks a batch runs at once under its one lease. */
  concurrency: number;
  /** How long an idle batch stays warm (model loaded, lease held); the library's default is 5 min. */
  keepAliveMs: number;
  /** The one large type of a workload, reported on its own. */
  large?: boolean;
}

export interface TaskSpec {
  id: number;
  type: string;
  priority: Priority;
  arrivalMs: number;
  durationMs: number;
}

export interface Trace {
  workload: string;
  types: TypeSpec[];
  /** Sorted by arrival. */
  tasks: TaskSpec[];
}

export interface Cluster {
  name: string;
  devicesMiB: number[];
}

export const GIB = 1024;
