/**
 * The simulated VRAM ledger. `tryReserve` refuses as the real ledger does; `reserve` records
 * whatever a strategy asks for (the baselines check room themselves). `check()`, run after
 * every event, audits the invariant the real ledger promises: on every device reserved ≤
 * capacity and reserved = the sum of live leases. So a strategy that ever reserves VRAM that
 * is not free is caught, not silently corrected.
 */
interface Lease {
  device: number;
  mib: number;
}

export class SimLedger {
  readonly reserved: number[];
  private readonly leases = new Map<number, Lease>();
  private nextLease = 1;
  /** Events after which the invariant did not hold. */
  violations = 0;
  /** The first few violations, said in words. */
  readonly violationNotes: string[] = [];

  constructor(readonly capacity: readonly number[]) {
    this.reserved = capacity.map(() => 0);
  }

  free(device: number): number {
    return this.capacity[device]! - this.reserved[device]!;
  }

  /** Reserves like the real ledger's tryReserve: the lease handle, or -1 when `mib` is not free on `device`. */
  tryReserve(device: number, mib: number): number {
    return mib <= this.free(device) ? this.reserve(device, mib) : -1;
  }

  /** Records a lease of `mib` on `device` and returns its handle. Does not refuse: see check(). */
  reserve(device: number, mib: number): number {
    const lease = this.nextLease++;
    this.leases.set(lease, { device, mib });
    this.reserved[device]! += mib;
    return lease;
  }

  release(lease: number): void {
    const held = this.leases.get(lease);
    if (!held) throw new Error(`lease ${lease} released twice or never reserved`);
    this.leases.delete(lease);
    this.reserved[held.device]! -= held.mib;
  }

  get totalReserved(): number {
    return this.reserved.reduce((a, b) => a + b, 0);
  }

  /** Audits the invariant now; false (and counted) when it is broken. */
  check(now: number): boolean {
    const sums = this.capacity.map(() => 0);
    for (const { device, mib } of this.leases.values()) sums[device]! += mib;
    for (let device = 0; device < this.capacity.length; device++) {
      const reserved = this.reserved[device]!;
      if (reserved <= this.capacity[device]! && reserved === sums[device] && reserved >= 0) continue;
      this.violations++;
      if (this.violationNotes.length < 5) {
        this.violationNotes.push(`t=${Math.round(now)} ms device ${device}: reserved ${reserved} MiB, leases ${sums[device]} MiB, capacity ${this.capacity[device]} MiB`);
      }
      return false;
    }
    return true;
  }
}
