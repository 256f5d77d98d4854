/** VRAM is accounted in whole MiB (Int32 in the ledger); people speak GB. */
import { freemem } from 'node:os';
export const MIB_PER_GB = 1024;

/** Rounds up: a budget is never under-counted. */
export function gbToMiB(gb: number): number {
  return Math.ceil(gb * MIB_PER_GB);
}

export function mibToGb(mib: number): number {
  return Math.round((mib / MIB_PER_GB) * 1000) / 1000;
}

/** Whether the machine has `gb` of system memory free now (0 = no requirement). */
export function hasFreeRam(gb: number): boolean {
  return gb === 0 || freemem() >= gb * 1024 ** 3;
}
