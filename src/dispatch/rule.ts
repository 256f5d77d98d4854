/**
 * The dispatch rule as a pure function: given the waiting types, the devices and the clock,
 * which batches start where. No I/O and no clock of its own, so the supervisor, the property
 * tests and the simulated-cluster bench all run this one function.
 *
 * Types are ranked by: most urgent waiting priority, then queue depth (deepest first: the
 * reference rule), then oldest head task. Each, in rank order, gets the device where its need
 * fits best (least free VRAM left over); a type that fits nowhere waits and lower-ranked
 * types may still start. With equal priorities this is the reference rule exactly.
 */

/** A type with queued work and no batch. */
export interface WaitingType {
  type: string;
  /** Live queued tasks. */
  depth: number;
  /** Most urgent waiting priority as a rank: 0 = critical … 3 = low. */
  rank: number;
  /** Acknowledgement number of the task that would start first (smaller = older). */
  headSeq: number;
  /** VRAM the first task needs in MiB: max(type budget, its own override). */
  needMiB: number;
}

export interface DeviceState {
  capacityMiB: number;
  reservedMiB: number;
}

export interface RuleInput {
  waiting: readonly WaitingType[];
  /** Indexed by device number. */
  devices: readonly DeviceState[];
}

/** Start a batch of `type` on device `device` with a lease of `mib`. */
export interface StartDecision {
  kind: 'start';
  type: string;
  device: number;
  mib: number;
}

export type Decision = StartDecision;

/** Orders types for dispatch; exported for tests and the bench. */
export function compareWaiting(a: WaitingType, b: WaitingType): number {
  return a.rank - b.rank || b.depth - a.depth || a.headSeq - b.headSeq;
}

export function decide(input: RuleInput): Decision[] {
  const free = input.devices.map((d) => d.capacityMiB - d.reservedMiB);
  const decisions: Decision[] = [];
  for (const waiting of [...input.waiting].sort(compareWaiting)) {
    const device = bestFit(free, waiting.needMiB);
    if (device === -1) continue;
    free[device]! -= waiting.needMiB;
    decisions.push({ kind: 'start', type: waiting.type, device, mib: waiting.needMiB });
  }
  return decisions;
}

/** The device whose free VRAM is the smallest that still holds `mib`; -1 when none does. */
export function bestFit(free: readonly number[], mib: number): number {
  let best = -1;
  for (let device = 0; device < free.length; device++) {
    const left = free[device]! - mib;
    if (left >= 0 && (best === -1 || left < free[best]! - mib)) best = device;
  }
  return best;
}
