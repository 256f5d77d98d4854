/** Starts the GPU monitor when there is real VRAM use to poll. */
import { createActor, type AnyActorRef } from 'xstate';
import { gpuMonitor } from '../actors/gpu-monitor.js';
import type { ResolvedConfig } from '../config.js';
import type { Device } from '../gpu/detect.js';
import type { VramObservations } from '../gpu/observed.js';
import { systemUsage } from '../gpu/usage.js';
import type { VramLedger } from '../threads/vram-ledger.js';

export interface MonitorDeps {
  config: ResolvedConfig;
  devices: readonly Device[];
  ledger: VramLedger;
  observations: VramObservations;
  /** Per device index, the types with a live batch there. */
  batchTypes(): string[][];
}

/** Real VRAM use, polled: for detected GPUs, or any devices when a source is given. Undefined when nothing is polled. */
export function startMonitor({ config, devices, ledger, observations, batchTypes }: MonitorDeps): AnyActorRef | undefined {
  const { gpuMonitor: options } = config;
  const real = config.devices === undefined && devices.every((d) => !d.unlimited);
  const source = options === false ? undefined : (options.source ?? (real ? systemUsage : undefined));
  if (options === false || source === undefined || config.scheduling.policy === 'permissive') return undefined;
  const monitor = createActor(gpuMonitor, {
    id: 'gpu-monitor',
    input: {
      source,
      intervalMs: options.intervalMs,
      ledger,
      batchTypes,
      observations,
      logger: config.logger,
    },
  });
  return monitor.start();
}
