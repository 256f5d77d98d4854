/**
 * nvidia-smi, asked directly. systeminformation merges nvidia-smi's figures into its controllers
 * only when `lspci` lists the card at the same bus address. On an H100 VM without `lspci` it
 * reported the card from `clinfo` instead: 81,079 MiB where nvidia-smi says 81,559, and no used
 * memory at all, which left the GPU monitor blind. So nvidia-smi comes first, and
 * systeminformation answers only where nvidia-smi is missing or lists no GPU.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { GpuController } from './detect.js';

const run = promisify(execFile);
const TIMEOUT_MS = 5_000;

/** NVIDIA GPUs as nvidia-smi lists them (in its index order); `undefined` when it is missing, fails or lists none. */
export async function nvidiaSmiControllers(): Promise<GpuController[] | undefined> {
  try {
    const { stdout } = await run('nvidia-smi', ['--query-gpu=index,name,memory.total,memory.used,pci.bus_id', '--format=csv,noheader,nounits'], { timeout: TIMEOUT_MS });
    const controllers = parseGpuRows(stdout);
    return controllers.length > 0 ? controllers : undefined;
  } catch {
    return undefined;
  }
}

/** `0, NVIDIA H100 80GB HBM3, 81559, 0, 00000000:00:06.0` lines → controllers (MiB); unreadable lines are skipped. */
export function parseGpuRows(csv: string): GpuController[] {
  const controllers: GpuController[] = [];
  for (const line of csv.split('\n')) {
    const fields = line.split(',').map((field) => field.trim());
    if (fields.length !== 5) continue;
    const [, name, total, used, bus] = fields as [string, string, string, string, string];
    const memoryTotal = Number(total);
    if (total === '' || !Number.isFinite(memoryTotal)) continue;
    const controller: GpuController = { vendor: 'NVIDIA', name, model: name, memoryTotal, pciBus: bus };
    // `[N/A]` or an error text where a figure should be: no reading rather than a wrong one.
    if (used !== '' && Number.isFinite(Number(used))) controller.memoryUsed = Number(used);
    controllers.push(controller);
  }
  return controllers;
}

/** nvidia-smi's per-process rows: `bus id, pid, used MiB` lines. */
export async function computeAppsCsv(): Promise<string> {
  const { stdout } = await run('nvidia-smi', ['--query-compute-apps=gpu_bus_id,pid,used_memory', '--format=csv,noheader,nounits'], { timeout: TIMEOUT_MS });
  return stdout;
}
