/**
 * When a batch has had its turn. The quantum counts from the batch's first finished task (its
 * model was loaded by then) and lasts `quantumMs`, or longer for a model that is slow to load:
 * at least LOAD_AMORTISATION times its load, so a yield spends at most a twentieth of the
 * card's time loading models. Going from 9× (a tenth) to 19× shortened the simulated steady
 * load's makespan by 3–5% (bench/simulate), at the price of longer turns. A pure function: the
 * batch machine and the simulated cluster share it.
 */

/** A batch runs at least this many times its model's load time before it yields. */
export const LOAD_AMORTISATION = 19;

/** The quantum of a batch whose model took `loadMs` to load. */
export function quantumOf(quantumMs: number, loadMs: number): number {
  return Math.max(quantumMs, LOAD_AMORTISATION * loadMs);
}

/** Whether a batch ready since `readySince` (epoch ms of its first finished task; undefined: none yet) has used its quantum. `quantumMs` 0 = never. */
export function quantumSpent(nowMs: number, quantumMs: number, readySince: number | undefined, loadMs: number): boolean {
  return quantumMs > 0 && readySince !== undefined && nowMs - readySince >= quantumOf(quantumMs, loadMs);
}
