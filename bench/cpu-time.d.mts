// Types of bench/cpu-time.mjs, for its unit test.
export function processCpuUs(): number;
export function mainThreadCpuUs(): number | undefined;
export function mainThreadSchedUs(): { onCore: number; waitingForCore: number } | undefined;
export function pidCpuUs(pid: number): number | undefined;
