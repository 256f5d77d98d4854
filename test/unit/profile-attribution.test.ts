/** bench/profile.mjs's attribution: the figures the README quotes come from it. */
import { describe, expect, it } from 'vitest';
import { areaOf, attribute, shortUrl, type CpuProfile } from '../../bench/profile-attribution.mjs';

const repoRoot = 'file:///repo/';
const where = { repoRoot, driverUrl: `${repoRoot}bench/profile.mjs` };
const frame = (id: number, functionName: string, url = '', children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 9 }, children });

/** root → idle, GC, a native call under Piscina, one under this package, one under node:inspector, and one right under the root. */
const profile: CpuProfile = {
  nodes: [
    frame(1, '(root)', '', [2, 3, 4, 6, 8, 10]),
    frame(2, '(idle)'),
    frame(3, '(garbage collector)'),
    frame(4, 'postTask', `${repoRoot}node_modules/piscina/dist/worker_pool/index.js`, [5]),
    frame(5, 'postMessage'),
    frame(6, 'executeTask', `${repoRoot}dist/actors/run-task.js`, [7]),
    frame(7, 'startWriting'),
    frame(8, 'post', 'node:inspector', [9]),
    frame(9, 'dispatch'),
    frame(10, 'uv_run'),
  ],
  samples: [2, 3, 5, 7, 9, 10, 5],
  timeDeltas: [100, 200, 300, 400, 500, 600, 1000],
};

describe('profile attribution', () => {
  const { areas, functions, lateUs } = attribute(profile, { ...where, intervalUs: 200 });

  it('charges a native call to the nearest frame with a source file, and leaves the profiler out', () => {
    expect(Object.fromEntries(areas)).toEqual({
      idle: 100,
      GC: 200,
      Piscina: 300 + 1000,
      'scheduler (this package)': 400,
      'program (native, no JS frame)': 600,
    });
    expect(functions.get('postTask piscina/dist/worker_pool/index.js:10')).toBe(1300);
    expect(functions.get('executeTask dist/actors/run-task.js:10')).toBe(400);
    expect(functions.get('(program)')).toBe(600);
  });

  it('counts as late the time of gaps over twice the sampling interval (not the profiler’s own)', () => {
    expect(lateUs).toBe(600 + 1000);
  });

  it('names files short and tells a dependency’s dist/ from this package’s', () => {
    expect(shortUrl(`${repoRoot}node_modules/piscina/dist/index.js`, where)).toBe('piscina/dist/index.js');
    expect(shortUrl(`${repoRoot}dist/scheduler.js`, where)).toBe('dist/scheduler.js');
    expect(areaOf(`${repoRoot}node_modules/lmdb/write.js`, where)).toBe('LMDB and msgpack');
    expect(areaOf(`${repoRoot}node_modules/pino/pino.js`, where)).toBe('other libraries');
    expect(areaOf(where.driverUrl, where)).toBe('bench driver');
    expect(areaOf('node:internal/timers', where)).toBe('Node internals');
  });
});
