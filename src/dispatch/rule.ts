/**
 * The dispatch rule as a pure function: given the waiting types, the devices and the policy,
 * which batches start where. No I/O and no clock of its own, so the supervisor, the property
 * tests and the simulated-cluster bench all run this one function.
 *
 * Types are ranked by: most urgent (aged) priority, then queue depth (deepest first: the
 * reference rule), then oldest head task; among equal priorities a type that just yielded its
 * quantum comes last, or its deep queue would win the VRAM straight back. Each, in rank order, gets the device where its need
 * fits best (least free VRAM left over), or else room made by evicting idle warm batches
 * (least recently used first); a type that fits nowhere waits and lower-ranked
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
  /** Its last batch ended by yielding its quantum: it ranks after the types of equal priority it yielded to. */
  yielded?: boolean;
}

export interface DeviceState {
  capacityMiB: number;
  reservedMiB: number;
}

/** A batch whose queue is empty but whose model stays loaded, holding its lease. */
export interface WarmBatch {
  type: string;
  device: number;
  mib: number;
  /** When it went warm: the least recently used is evicted first. */
  idleSince: number;
}

export interface RuleInput {
  waiting: readonly WaitingType[];
  /** Idle warm batches, which may be evicted for a type that does not fit otherwise. */
  warm?: readonly WarmBatch[];
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

/** End the warm batch of `type` (its model unloads, its lease returns) to make room for `for`. */
export interface EvictDecision {
  kind: 'evict';
  type: string;
  for: string;
}

export type Decision = StartDecision | HoldDecision | EvictDecision;

/** Orders types for dispatch; exported for tests and the bench. */
export function compareWaiting(a: WaitingType, b: WaitingType): number {
  return a.rank - b.rank || Number(a.yielded ?? false) - Number(b.yielded ?? false) || b.depth - a.depth || a.headSeq - b.headSeq;
}

export function decide({ waiting, warm = [], devices, starvationMs = 0 }: RuleInput): Decision[] {
  const free = devices.map((d) => d.capacityMiB - d.reservedMiB);
  const held = new Set<number>();
  const evictable = [...warm].sort((a, b) => a.idleSince - b.idleSince);
  const decisions: Decision[] = [];
  const ranked = [...waiting].sort(compareWaiting);
  for (const [position, candidate] of ranked.entries()) {
    const device = bestFit(free, candidate.needMiB, held);
    if (device !== -1) {
      free[device]! -= candidate.needMiB;
      decisions.push({ kind: 'start', type: candidate.type, device, mib: candidate.needMiB });
    } else if (evictFor(candidate, free, held, evictable, decisions)) {
      // Room is being made: it starts once the evicted leases are back; nothing lower takes it meanwhile.
    } else if (position === 0 && starvationMs > 0 && candidate.waitedMs >= starvationMs) {
      const couldHold = devices.flatMap((d, i) => (d.capacityMiB >= candidate.needMiB ? [i] : []));
      for (const i of couldHold) held.add(i);
      decisions.push({ kind: 'hold', type: candidate.type, devices: couldHold });
    }
  }
  return decisions;
}

/**
 * Evicts idle warm batches, least recently used first, on the device where that frees room for
 * `candidate` with the fewest evictions. Marks the room taken in `free` and the evicted batches
 * gone from `evictable`. False when no device can make room.
 */
function evictFor(candidate: WaitingType, free: number[], held: ReadonlySet<number>, evictable: WarmBatch[], decisions: Decision[]): boolean {
  let best: { device: number; victims: WarmBatch[] } | undefined;
  for (let device = 0; device < free.length; device++) {
    if (held.has(device)) continue;
    let room = free[device]!;
    const victims: WarmBatch[] = [];
    for (const batch of evictable) {
      if (room >= candidate.needMiB) break;
      if (batch.device !== device || batch.type === candidate.type) continue;
      victims.push(batch);
      room += batch.mib;
    }
    if (room >= candidate.needMiB && victims.length > 0 && (!best || victims.length < best.victims.length)) best = { device, victims };
  }
  if (!best) return false;
  const freeNow = free[best.device]!;
  let freed = 0;
  for (const victim of best.victims) {
    evictable.splice(evictable.indexOf(victim), 1);
    freed += victim.mib;
    decisions.push({ kind: 'evict', type: victim.type, for: candidate.type });
  }
  // The evicted VRAM comes back only after the unloads: a lower-ranked type may take no more
  // than is free now, and must leave the candidate its need once it is back.
  free[best.device] = Math.min(freeNow, freeNow + freed - candidate.needMiB);
  return true;
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
