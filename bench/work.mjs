// The work every contender's task does, so raw Piscina and the scheduler are compared on equal terms.

/** Wall-clock time in ms on a clock that main and worker threads share. */
export const clock = () => performance.timeOrigin + performance.now();

/** Keeps the CPU busy for `ms` milliseconds (0: returns at once). */
export function burn(ms) {
  if (!(ms > 0)) return;
  const end = performance.now() + ms;
  let x = 1;
  while (performance.now() < end) for (let i = 0; i < 1000; i++) x = Math.imul(x ^ i, 0x01000193);
  return x;
}

/** One task: note when it started (on the shared clock), then work. Returns the start time. */
export function task({ cpuMs }) {
  const startedAt = clock();
  burn(cpuMs);
  return startedAt;
}
