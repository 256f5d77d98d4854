/** Each type's real VRAM use as the GPU monitor saw it, so a wrong budget shows up before it becomes an OOM. */
import { mibToGb } from '../units.js';

export interface ObservedVram {
  /** Highest real use seen while this type ran alone on a device, in GB. */
  peakGb: number;
  /** Its lease at that moment (budget, overrides and grown VRAM), in GB. */
  leaseGb: number;
  /** The real use exceeded the lease: the budget is too small. */
  exceeded: boolean;
  /** When exceeded: a budget that covers the peak with 10% headroom, in GB. */
  suggestedGb?: number;
}

export class VramObservations {
  readonly #byType = new Map<string, { peakMiB: number; leaseMiB: number }>();

  /** Records one sample; returns true the first time this type is seen over its lease. */
  record(type: string, usedMiB: number, leaseMiB: number): boolean {
    const before = this.#byType.get(type);
    const wasOver = before !== undefined && before.peakMiB > before.leaseMiB;
    if (before === undefined || usedMiB > before.peakMiB) this.#byType.set(type, { peakMiB: usedMiB, leaseMiB });
    return !wasOver && usedMiB > leaseMiB;
  }

  get(type: string): ObservedVram | undefined {
    const seen = this.#byType.get(type);
    if (seen === undefined) return undefined;
    const observed: ObservedVram = { peakGb: mibToGb(seen.peakMiB), leaseGb: mibToGb(seen.leaseMiB), exceeded: seen.peakMiB > seen.leaseMiB };
    if (observed.exceeded) observed.suggestedGb = suggestGb(seen.peakMiB);
    return observed;
  }

  all(): Record<string, ObservedVram> {
    return Object.fromEntries([...this.#byType.keys()].map((type) => [type, this.get(type)!]));
  }
}

/** Peak + 10%, rounded up to half a GB. */
export function suggestGb(peakMiB: number): number {
  return Math.ceil((peakMiB * 1.1) / 512) / 2;
}
