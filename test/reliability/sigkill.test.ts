/**
 * Fault campaign, short version for CI: a few rounds of "SIGKILL a real scheduler process at a
 * random moment, restart it on the same data directory, repeat, then check" (campaign.mjs).
 * `npm run reliability` runs 100+ rounds and writes bench/results/reliability.{json,md}.
 * RELIABILITY_SEED=<n> replays a campaign; RELIABILITY_ROUNDS=<n> runs more rounds here.
 */
import { expect, it } from 'vitest';
import { runRound } from './campaign.mjs';

const seed = Number(process.env.RELIABILITY_SEED ?? 20261122);
const rounds = Number(process.env.RELIABILITY_ROUNDS ?? 3);

it(`SIGKILL at random points (${rounds} rounds, seed ${seed}): nothing acknowledged is lost or run twice, results intact, no VRAM leaked`, async () => {
  let acknowledged = 0;
  for (let round = 0; round < rounds; round++) {
    const result = await runRound({ seed, round });
    expect(result.problems, `round ${round} (seed ${seed}, kill points ${result.killPoints.join(', ')})`).toEqual([]);
    expect(result).toMatchObject({ lost: 0, duplicated: 0, corrupted: 0, wrong: 0, leftover: 0, leakedMiB: 0 });
    expect(result.stored).toBeGreaterThanOrEqual(result.acknowledged);
    acknowledged += result.acknowledged;
  }
  expect(acknowledged, 'the children acknowledged work before they were killed').toBeGreaterThan(0);
}, 120_000);
