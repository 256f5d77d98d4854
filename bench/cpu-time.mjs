// CPU time a contender spends, for bench/overhead.mjs: where a throughput ratio's gap goes.
import { readFileSync } from 'node:fs';

/** CPU time of this whole process (every thread: main, workers, LMDB's and libuv's, GC), µs. */
export function processCpuUs() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** CPU time of the main thread, µs; undefined where /proc is missing (not Linux). 10 ms resolution. */
export function mainThreadCpuUs() {
  return procCpuUs(`/proc/self/task/${process.pid}/stat`);
}

/**
 * The main thread's time on a core and runnable but waiting for one, µs (ns resolution; the time on
 * a core lags by up to a scheduler tick); undefined where /proc has no schedstat.
 */
export function mainThreadSchedUs() {
  try {
    const [onCore, waitingForCore] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { onCore: onCore / 1000, waitingForCore: waitingForCore / 1000 };
  } catch {
    return undefined;
  }
}

/** CPU time of another process (redis-server), µs; undefined where /proc is missing or it has exited. */
export function pidCpuUs(pid) {
  return procCpuUs(`/proc/${pid}/stat`);
}

/** Linux's clock ticks per second for /proc times (USER_HZ: 100 on the platforms Node runs on). */
const TICKS_PER_SECOND = 100;

function procCpuUs(file) {
  let stat;
  try {
    stat = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) ends with ')': utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}
