/**
 * Devices: simulated ones from `options.devices`, else real NVIDIA GPUs found by nvidia-smi
 * (or by systeminformation where nvidia-smi is missing), else one unlimited `cpu` device so
 * that the same code runs on a machine with no GPU.
 */
import type { Logger } from 'pino';
import type { Systeminformation } from 'systeminformation';
import { gbToMiB } from '../config.js';
import type { DeviceOptions } from '../options.js';
import { nvidiaSmiControllers } from './nvidia-smi.js';

/** A device the ledger accounts for. */
export interface Device {
  /** `gpu0`, `gpu1`… for detected GPUs (nvidia-smi order), the configured id for simulated ones, `cpu` for the fallback. */
  id: string;
  /** Position in the device list; for detected GPUs, the nvidia-smi index. */
  index: number;
  /** VRAM in MiB. */
  capacityMiB: number;
  /** True only for the `cpu` fallback: VRAM is not limited. */
  unlimited: boolean;
  /** Model name of a detected GPU. */
  name?: string;
}

/** The fields of a systeminformation graphics controller this module reads (MiB, as systeminformation reports them). */
export type GpuController = Partial<
  Pick<Systeminformation.GraphicsControllerData, 'vendor' | 'model' | 'name' | 'vram' | 'vramDynamic' | 'memoryTotal' | 'memoryFree' | 'memoryUsed' | 'subDeviceId' | 'pciBus' | 'busAddress'>
>;

/** The ledger counts MiB in an Int32. */
export const UNLIMITED_MIB = 0x7fffffff;

/** The single device used when no GPU is found: VRAM is not limited. */
export const CPU_DEVICE: Readonly<Device> = Object.freeze({ id: 'cpu', index: 0, capacityMiB: UNLIMITED_MIB, unlimited: true });

/** How long detection may take before we give up and fall back to the `cpu` device. */
const PROBE_TIMEOUT_MS = 15_000;

/** The real probe: nvidia-smi's GPUs; else systeminformation `graphics()`, loaded only then. */
export async function systemProbe(): Promise<GpuController[]> {
  const fromSmi = await nvidiaSmiControllers();
  if (fromSmi !== undefined) return fromSmi;
  const si = await import('systeminformation');
  return (await si.graphics()).controllers;
}

/**
 * `configured` given → those (simulated). Else `probe()` (nvidia-smi, else systeminformation):
 * NVIDIA controllers with a memory size become `gpu<N>` devices with their total VRAM in MiB
 * (`memoryTotal` from nvidia-smi, else `vram`). None found, or the probe throws or hangs → one
 * unlimited device `{ id: 'cpu', unlimited: true, capacityMiB: 0x7fffffff }`. Logs what it found.
 */
export async function detectDevices(
  configured: readonly DeviceOptions[] | undefined,
  logger: Logger,
  probe: () => Promise<GpuController[]> = systemProbe,
): Promise<Device[]> {
  if (configured !== undefined && configured.length > 0) {
    const devices = configured.map((d, index) => ({ id: d.id, index, capacityMiB: Math.min(gbToMiB(d.vramGb), UNLIMITED_MIB), unlimited: false }));
    logger.info({ devices }, `Using ${devices.length} configured device(s): ${devices.map(describe).join(', ')}`);
    return devices;
  }
  let controllers: GpuController[];
  try {
    controllers = await withTimeout(probe(), PROBE_TIMEOUT_MS);
  } catch (error) {
    logger.warn({ err: error }, 'GPU detection failed: running with unlimited VRAM on the cpu device (set options.devices to declare GPUs)');
    return [{ ...CPU_DEVICE }];
  }
  const devices: Device[] = [];
  for (const c of Array.isArray(controllers) ? controllers.filter(isNvidia) : []) {
    const mib = sizeMiB(c);
    if (mib === undefined) {
      logger.warn({ controller: c.name ?? c.model }, 'NVIDIA GPU without a reported memory size: skipped (is nvidia-smi installed?)');
      continue;
    }
    const index = devices.length;
    const device: Device = { id: `gpu${index}`, index, capacityMiB: mib, unlimited: false };
    const name = c.name ?? c.model;
    if (name) device.name = name;
    if (!isPositive(c.memoryTotal)) {
      logger.warn({ device: device.id }, `VRAM size of ${device.id} comes from the PCI/driver report, not nvidia-smi, and may be wrong: set options.devices to be exact`);
    }
    devices.push(device);
  }
  if (devices.length === 0) {
    logger.info('No NVIDIA GPU found: running with unlimited VRAM on the cpu device');
    return [{ ...CPU_DEVICE }];
  }
  logger.info({ devices }, `Detected ${devices.length} GPU(s): ${devices.map(describe).join(', ')}`);
  return devices;
}

/** The controllers that become devices, in device order (the GPU monitor reads them the same way). */
export function gpuControllers(controllers: readonly GpuController[]): GpuController[] {
  return controllers.filter((c) => isNvidia(c) && sizeMiB(c) !== undefined);
}

function isNvidia(c: GpuController): boolean {
  // memoryTotal is only ever filled in from nvidia-smi.
  return [c.vendor, c.model, c.name].some((s) => typeof s === 'string' && /nvidia/i.test(s)) || isPositive(c.memoryTotal);
}

function sizeMiB(c: GpuController): number | undefined {
  if (isPositive(c.memoryTotal)) return Math.min(Math.floor(c.memoryTotal), UNLIMITED_MIB);
  // `vram` of a dynamic (shared system memory) controller is not dedicated VRAM.
  if (isPositive(c.vram) && c.vramDynamic !== true) return Math.min(Math.floor(c.vram), UNLIMITED_MIB);
  return undefined;
}

function isPositive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1;
}

function describe(d: Device): string {
  return `${d.id} (${d.name ? `${d.name}, ` : ''}${d.capacityMiB} MiB)`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`GPU detection took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
