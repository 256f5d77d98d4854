/**
 * Real VRAM use per device, for the GPU monitor: used MiB from nvidia-smi (the same probe as
 * detection), and our own share from `nvidia-smi --query-compute-apps` (every worker thread is
 * this process; a handler's child processes count as ours too), so others' use can be told apart.
 */
import { existsSync, readFileSync } from 'node:fs';
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
  const apps = await computeAppsCsv().then((csv) => parseComputeApps(csv, ownerOf)).catch(() => undefined);
  return readingsOf(controllers, apps);
}

/** Each controller's reading, with our share where nvidia-smi's process rows tell it. */
export function readingsOf(controllers: readonly GpuController[], apps: ComputeApps | undefined): (GpuReading | undefined)[] {
  return controllers.map((c) => reading(c, apps));
}

function reading(c: GpuController, apps: ComputeApps | undefined): GpuReading | undefined {
  if (typeof c.memoryUsed !== 'number' || !Number.isFinite(c.memoryUsed)) return undefined;
  const bus = busId(c.busAddress ?? c.pciBus);
  const result: GpuReading = { usedMiB: Math.max(0, Math.round(c.memoryUsed)) };
  if (apps !== undefined && bus !== undefined && !apps.unseen.has(bus)) result.ownMiB = apps.own.get(bus) ?? 0;
  return result;
}

/** Per bus id: the MiB our processes use, and the devices with a row whose process we cannot see. */
export interface ComputeApps {
  own: Map<string, number>;
  unseen: Set<string>;
}

/**
 * `00000000:01:00.0, 1234, 500` lines → MiB used by the pids `ownerOf` calls ours, per bus id.
 * No process rows at all → undefined (no per-process figures): inside a container nvidia-smi
 * often lists none, and reading that as "we use nothing" would count our own use as foreign.
 * For the same reason a device with a row whose pid is `unseen` (nvidia-smi may give pids of
 * another pid namespace, the host's) has no per-process figure either.
 */
export function parseComputeApps(csv: string, ownerOf: (pid: number) => Owner): ComputeApps | undefined {
  const apps: ComputeApps = { own: new Map(), unseen: new Set() };
  let rows = 0;
  for (const line of csv.split('\n')) {
    const [bus, linePid, mib] = line.split(',').map((field) => field.trim());
    const id = busId(bus);
    if (id === undefined || !Number.isFinite(Number(mib))) continue;
    rows++;
    const owner = ownerOf(Number(linePid));
    if (owner === 'ours') apps.own.set(id, (apps.own.get(id) ?? 0) + Number(mib));
    else if (owner === 'unseen') apps.unseen.add(id);
  }
  return rows === 0 ? undefined : apps;
}

/** Whose a GPU process is: this process's (itself or one it started), a stranger's, or one this pid namespace cannot see. */
export type Owner = 'ours' | 'foreign' | 'unseen';

/** Where /proc is missing (not Linux) no ancestry can be read: only this process counts as ours. */
const hasProc = existsSync('/proc/self/stat');

/**
 * A handler may run its model in a child process (a llama.cpp server, a Python script): that
 * VRAM is held under its task's lease, not by a stranger. Ancestry is read from /proc. A pid
 * with no /proc entry is `unseen`: it lives in another pid namespace (a container shown the
 * host's pids), or it has just exited.
 */
export function ownerOf(pid: number): Owner {
  if (!Number.isSafeInteger(pid) || pid <= 0) return 'unseen'; // nvidia-smi printed no usable pid
  if (!hasProc) return pid === process.pid ? 'ours' : 'foreign';
  for (let current = pid, hops = 0; hops < 64; hops++) {
    if (current === process.pid) return 'ours'; // first: in a container this process may be pid 1
    if (current <= 1) return 'foreign'; // init (or 0, above it): every ancestry ends here
    const parent = parentOf(current);
    if (parent === undefined) return hops === 0 ? 'unseen' : 'foreign';
    current = parent;
  }
  return 'foreign';
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
