/**
 * Property tests run with a fixed seed so CI is repeatable. On failure fast-check prints
 * the seed and path; replay with `FC_SEED=<seed> npm run test:property`.
 * A long campaign: `FC_RUNS=10000 npm run test:property`.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED === undefined ? 20261122 : Number(process.env.FC_SEED);
fc.configureGlobal({ seed, ...(process.env.FC_RUNS ? { numRuns: Number(process.env.FC_RUNS) } : {}) });

/** Runs for one property: the CI default unless FC_RUNS asks for a longer campaign. */
export function runs(ciDefault: number): number {
  return process.env.FC_RUNS ? Number(process.env.FC_RUNS) : ciDefault;
}
