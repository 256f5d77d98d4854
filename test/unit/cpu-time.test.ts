/** bench/cpu-time.mjs: the CPU figures bench/overhead.mjs and bench/profile.mjs report. */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mainThreadCpuUs, mainThreadSchedUs, pidCpuUs, processCpuUs } from '../../bench/cpu-time.mjs';

const linux = existsSync('/proc/self/stat');

/** Keeps the main thread on the CPU until the process has used `us` more of it (however often it is preempted). */
function burnCpu(us: number): void {
  const until = processCpuUs() + us;
  while (processCpuUs() < until);
}

describe('bench CPU time', () => {
  it("reads the main thread's CPU and time on a core as what a busy loop on it used (Linux; undefined elsewhere)", () => {
    const before = { main: mainThreadCpuUs(), sched: mainThreadSchedUs() };
    burnCpu(300_000);
    const after = { main: mainThreadCpuUs(), sched: mainThreadSchedUs() };
    if (!linux) {
      expect([before.main, before.sched, after.main, after.sched]).toEqual([undefined, undefined, undefined, undefined]);
      return;
    }
    // 10 ms ticks for the CPU figure; the other threads of this process use little meanwhile.
    expect(after.main! - before.main!).toBeGreaterThan(200_000);
    expect(after.main! - before.main!).toBeLessThan(400_000);
    expect(after.sched!.onCore - before.sched!.onCore).toBeGreaterThan(200_000);
    expect(after.sched!.onCore - before.sched!.onCore).toBeLessThan(400_000);
  });

  it("reads another process's CPU by pid, and undefined for one that does not exist", () => {
    expect(pidCpuUs(2 ** 22 + 1)).toBeUndefined(); // above Linux's pid_max
    if (linux) expect(pidCpuUs(process.pid)).toBeGreaterThan(0);
    else expect(pidCpuUs(process.pid)).toBeUndefined();
  });
});
