/**
 * What the burst wait bound (bench/simulate/wait-bound.ts) covers: schedules that run one batch
 * per type at a time. A schedule that runs two instances of a type's model takes a burst faster,
 * so the report must not say that no schedule at all can meet a wait target because of it.
 */
import { describe, expect, it } from 'vitest';
import type { Trace, TypeSpec } from '../../bench/simulate/model.js';
import { markdown, type Targets } from '../../bench/simulate/report.js';
import { simulateNamed } from '../../bench/simulate/run.js';
import { longestWaitBound } from '../../bench/simulate/wait-bound.js';

const S = 1000;

describe('the burst wait bound', () => {
  it('does not bind FIFO first-fit, which runs two instances of the burst type at once', () => {
    // One 10 GB type on a 24 GB card, four 10 s tasks at once, one at a time per instance.
    const spec: TypeSpec = { name: 'a', vramMiB: 10_000, loadMs: 0, unloadMs: 0, concurrency: 1, keepAliveMs: 0 };
    const trace: Trace = {
      workload: 'burst',
      types: [spec],
      tasks: [0, 1, 2, 3].map((id) => ({ id, type: 'a', priority: 'normal', arrivalMs: 0, durationMs: 10 * S })),
    };
    expect(longestWaitBound(trace).ms).toBe(30 * S); // three of the four run, one at a time, before the last is taken
    const r = simulateNamed(trace, { name: '1×24', devicesMiB: [24_000] }, 'fifo-first-fit');
    expect(r.longestWaitMs).toBe(10 * S); // two instances side by side: the last two are taken after one task each
  });

  it('is reported as binding schedules of one batch per type, not every schedule', () => {
    const targets: Targets = {
      steadyWithin110: [],
      overReservations: 0,
      pastStarvationBound: [{ workload: 'bursts', cluster: '1×24 GB', tasks: 5, referenceTasks: 5, longestTurnWaitMs: 60 * S, boundMs: 600 * S, unavoidable: { ms: 900 * S, type: 'chat' } }],
    };
    const text = markdown([], [], { date: 'd', seed: 1, node: 'n', boundByWorkload: {} }, targets);
    const line = text.split('\n').find((l) => l.startsWith('- bursts on 1×24 GB'))!;
    expect(line).toContain('15.0 min');
    expect(line).not.toContain('no schedule can meet it');
    expect(line).toMatch(/one batch per type/);
  });
});
