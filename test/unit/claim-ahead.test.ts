import { describe, expect, it } from 'vitest';
import { MAX_CLAIM_AHEAD, ClaimAhead } from '../../src/dispatch/claim-ahead.js';

describe('ClaimAhead', () => {
  it('claims none ahead until tasks have run, nor for tasks much longer than a commit', () => {
    const claims = new ClaimAhead(2);
    expect(claims.limit).toBe(2);
    claims.committed(1);
    claims.ran(5_000); // inference-like: seconds per task
    expect(claims.limit).toBe(2);
  });

  it('claims ahead about what its threads finish during ten commits, up to the cap', () => {
    const claims = new ClaimAhead(2);
    for (let i = 0; i < 100; i++) {
      claims.committed(2);
      claims.ran(0.5);
    }
    // 10 commits × 2 threads × 2 ms commit ÷ 0.5 ms per task ≈ 80 ahead.
    expect(claims.limit).toBeGreaterThanOrEqual(2 + 79);
    expect(claims.limit).toBeLessThanOrEqual(2 + 80);
    for (let i = 0; i < 100; i++) claims.ran(0);
    expect(claims.limit).toBe(2 + MAX_CLAIM_AHEAD);
  });
});
