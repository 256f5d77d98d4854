/** What every scheduling strategy gets: the clock, the ledger, the recorder and the task types. */
import type { EventLoop } from './event-loop.js';
import type { SimLedger } from './ledger.js';
import type { TaskSpec, TypeSpec } from './model.js';
import type { Recorder } from './recorder.js';

export interface SimContext {
  loop: EventLoop;
  ledger: SimLedger;
  recorder: Recorder;
  types: ReadonlyMap<string, TypeSpec>;
}

/** A scheduler under simulation: told of each task as it arrives, it acts through the context. */
export interface Strategy {
  arrive(task: TaskSpec): void;
}
