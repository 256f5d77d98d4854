/**
 * Real VRAM use per device, for the GPU monitor: used MiB from nvidia-smi (the same probe as
 * detection), and our own share from `nvidia-smi --query-compute-apps` (every worker thread is
 * this process; a handler's child processes count as ours too), so others' use can be told apart.
 */
import { readFileSync } from 'node:fs';
import { gpuControllers, systemProbe, type GpuController } from './detect.js';
import { computeAppsCsv } from './nvidia-smi.js';

/** One device's reading, in MiB. `ownMiB` is absent when per-process figures are unavailable. */
export interface GpuReading {
  usedMiB: number;
  ownMiB?: number;
}

/** Readings in device order (`undefined` for a device with no figure this time). */
export type GpuUsageSource = () => Promise<readonly (GpuReading | undefined)[]>;

/** The default source for detected GPUs. */
export async function systemUsage(): Promise<(GpuReading | undefined)[]> {
  const controllers = gpuControllers(await systemProbe());
  const own = await computeAppsCsv().then((csv) => parseComputeApps(csv, isOurs)).catch(() => undefined);
  return controllers.map((c) => reading(c, own));
}

function reading(c: GpuController, own: Map<string, number> | undefined): GpuReading | undefined {
  if (typeof c.memoryUsed !== 'number' || !Number.isFinite(c.memoryUsed)) return undefined;
  const bus = busId(c.busAddress ?? c.pciBus);
  const result: GpuReading = { usedMiB: Math.max(0, Math.round(c.memoryUsed)) };
  if (own !== undefined && bus !== undefined) result.ownMiB = own.get(bus) ?? 0;
  return result;
}

/**
 * `00000000:01:00.0, 1234, 500` lines → MiB used by the pids `ours` accepts, per bus id.
 * No process rows at all → undefined (no per-process figures): inside a container nvidia-smi
 * often lists none, and reading that as "we use nothing" would count our own use as foreign.
 */
export function parseComputeApps(csv: string, ours: (pid: number) => boolean): Map<string, number> | undefined {
  const own = new Map<string, number>();
  let rows = 0;
  for (const line of csv.split('\n')) {
    const [bus, linePid, mib] = line.split(',').map((field) => field.trim());
    const id = busId(bus);
    if (id === undefined || !Number.isFinite(Number(mib))) continue;
    rows++;
    if (ours(Number(linePid))) own.set(id, (own.get(id) ?? 0) + Number(mib));
  }
  return rows === 0 ? undefined : own;
}

/**
 * This process, or one it started: a handler may run its model in a child process (a
 * llama.cpp server, a Python script), and that VRAM is held under its task's lease, not by a
 * stranger. Ancestry is read from /proc; where there is none, only this process counts.
 */
export function isOurs(pid: number): boolean {
  for (let current = pid, hops = 0; current > 1 && hops < 64; hops++) {
    if (current === process.pid) return true;
    const parent = parentOf(current);
    if (parent === undefined) return false;
    current = parent;
  }
  return false;
}

function parentOf(pid: number): number | undefined {
  try {
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isSafeInteger(parent) ? parent : undefined;
  } catch {
    return undefined;
  }
}

/** `00000000:01:00.0` and `01:00.0` name the same bus: compare `bus:device.function`, lower case. */
function busId(address: string | undefined): string | undefined {
  return /([0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f])\s*$/i.exec(address ?? '')?.[1]?.toLowerCase();
}
