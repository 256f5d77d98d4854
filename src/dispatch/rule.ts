/**
 * The dispatch rule as a pure function: given the waiting types, the devices and the policy,
 * which batches start where. No I/O and no clock of its own, so the supervisor, the property
 * tests and the simulated-cluster bench all run this one function.
 *
 * Types are ranked by: most urgent (aged) priority, then queue depth (deepest first: the
 * reference rule), then oldest head task. Each, in rank order, gets the device where its need
 * fits best (least free VRAM left over); a type that fits nowhere waits and lower-ranked
 * types may still start, unless the top-ranked type has waited past the starvation bound:
 * then it holds the line, and no lower-ranked type may take a device it could use.
 * With equal priorities and no aging this is the reference rule exactly.
 */

/** A type with queued work and no batch. */
export interface WaitingType {
  type: string;
  /** Live queued tasks. */
  depth: number;
  /** Priority rank its next task counts as now, aging included: 0 = critical … 3 = low; below 0 once aged past critical. */
  rank: number;
  /** Acknowledgement number of the task that would start first (smaller = older). */
  headSeq: number;
  /** How long that task has waited, in ms. */
  waitedMs: number;
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
  /** The head-of-line hold starts once the top-ranked type has waited this long; 0 = never. */
  starvationMs?: number;
}

/** Start a batch of `type` on device `device` with a lease of `mib`. */
export interface StartDecision {
  kind: 'start';
  type: string;
  device: number;
  mib: number;
}

/** The top-ranked `type` waits for VRAM: nothing lower-ranked may start on `devices`. */
export interface HoldDecision {
  kind: 'hold';
  type: string;
  devices: number[];
}

export type Decision = StartDecision | HoldDecision;

/** Orders types for dispatch; exported for tests and the bench. */
export function compareWaiting(a: WaitingType, b: WaitingType): number {
  return a.rank - b.rank || b.depth - a.depth || a.headSeq - b.headSeq;
}

export function decide({ waiting, devices, starvationMs = 0 }: RuleInput): Decision[] {
  const free = devices.map((d) => d.capacityMiB - d.reservedMiB);
  const held = new Set<number>();
  const decisions: Decision[] = [];
  const ranked = [...waiting].sort(compareWaiting);
  for (const [position, candidate] of ranked.entries()) {
    const device = bestFit(free, candidate.needMiB, held);
    if (device !== -1) {
      free[device]! -= candidate.needMiB;
      decisions.push({ kind: 'start', type: candidate.type, device, mib: candidate.needMiB });
    } else if (position === 0 && starvationMs > 0 && candidate.waitedMs >= starvationMs) {
      const couldHold = devices.flatMap((d, i) => (d.capacityMiB >= candidate.needMiB ? [i] : []));
      for (const i of couldHold) held.add(i);
      decisions.push({ kind: 'hold', type: candidate.type, devices: couldHold });
    }
  }
  return decisions;
}

/** The device whose free VRAM is the smallest that still holds `mib`; -1 when none does. */
export function bestFit(free: readonly number[], mib: number, excluded: ReadonlySet<number> = new Set()): number {
  let best = -1;
  for (let device = 0; device < free.length; device++) {
    if (excluded.has(device)) continue;
    const left = free[device]! - mib;
    if (left >= 0 && (best === -1 || left < free[best]! - mib)) best = device;
  }
  return best;
}
