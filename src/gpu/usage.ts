/**
 * Real VRAM use per device, for the GPU monitor: used MiB from systeminformation (nvidia-smi),
 * and this process's own share from `nvidia-smi --query-compute-apps` (every worker thread is
 * this process), so use by other processes can be told apart from ours.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gpuControllers, type GpuController } from './detect.js';

/** One device's reading, in MiB. `ownMiB` is absent when per-process figures are unavailable. */
export interface GpuReading {
  usedMiB: number;
  ownMiB?: number;
}

/** Readings in device order (`undefined` for a device with no figure this time). */
export type GpuUsageSource = () => Promise<readonly (GpuReading | undefined)[]>;

const run = promisify(execFile);

/** The default source for detected GPUs. */
export async function systemUsage(): Promise<(GpuReading | undefined)[]> {
  const si = await import('systeminformation');
  const controllers = gpuControllers((await si.graphics()).controllers);
  const own = await ownUsageByBus().catch(() => undefined);
  return controllers.map((c) => reading(c, own));
}

function reading(c: GpuController, own: Map<string, number> | undefined): GpuReading | undefined {
  if (typeof c.memoryUsed !== 'number' || !Number.isFinite(c.memoryUsed)) return undefined;
  const bus = busId(c.busAddress ?? c.pciBus);
  const result: GpuReading = { usedMiB: Math.max(0, Math.round(c.memoryUsed)) };
  if (own !== undefined && bus !== undefined) result.ownMiB = own.get(bus) ?? 0;
  return result;
}

/** MiB this process uses per GPU, keyed by PCI bus id. */
async function ownUsageByBus(): Promise<Map<string, number>> {
  const { stdout } = await run('nvidia-smi', ['--query-compute-apps=gpu_bus_id,pid,used_memory', '--format=csv,noheader,nounits'], { timeout: 5_000 });
  return parseComputeApps(stdout, process.pid);
}

/** `00000000:01:00.0, 1234, 500` lines → MiB used by `pid` per bus id. */
export function parseComputeApps(csv: string, pid: number): Map<string, number> {
  const own = new Map<string, number>();
  for (const line of csv.split('\n')) {
    const [bus, linePid, mib] = line.split(',').map((field) => field.trim());
    const id = busId(bus);
    if (id === undefined || Number(linePid) !== pid || !Number.isFinite(Number(mib))) continue;
    own.set(id, (own.get(id) ?? 0) + Number(mib));
  }
  return own;
}

/** `00000000:01:00.0` and `01:00.0` name the same bus: compare `bus:device.function`, lower case. */
function busId(address: string | undefined): string | undefined {
  return /([0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f])\s*$/i.exec(address ?? '')?.[1]?.toLowerCase();
}
