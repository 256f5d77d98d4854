/**
 * The GPU monitor: polls real VRAM use per device off the hot path and tells the ledger how
 * much is used outside the scheduler, so a foreign process cannot make us over-commit a card.
 * While one type runs alone on a device, its real use is recorded against its lease.
 */
import type { Logger } from 'pino';
import { fromCallback, type EventObject } from 'xstate';
import type { VramObservations } from '../gpu/observed.js';
import type { GpuReading, GpuUsageSource } from '../gpu/usage.js';
import type { VramLedger } from '../threads/vram-ledger.js';

export interface GpuMonitorInput {
  source: GpuUsageSource;
  intervalMs: number;
  ledger: VramLedger;
  /** Per device index, the types with a live batch there: read once per poll. */
  batchTypes(): string[][];
  observations: VramObservations;
  logger: Logger;
}

export const gpuMonitor = fromCallback<EventObject, GpuMonitorInput>(({ input }) => {
  const state = new MonitorState(input);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      state.apply(await input.source());
    } catch (error) {
      input.logger.warn({ err: error }, 'GPU monitor: reading VRAM use failed; keeping the last figures');
    }
    if (stopped) return;
    timer = setTimeout(() => void tick(), input.intervalMs);
    timer.unref();
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
});

class MonitorState {
  /** Per device: foreign use seen the last time no batch ran on it (when per-process figures are missing). */
  readonly #idleForeign = new Map<number, number>();

  constructor(private readonly input: GpuMonitorInput) {}

  apply(readings: readonly (GpuReading | undefined)[]): void {
    const { ledger } = this.input;
    const batchTypes = this.input.batchTypes();
    for (let device = 0; device < ledger.deviceCount; device++) {
      const reading = readings[device];
      if (reading === undefined) continue;
      const types = batchTypes[device] ?? [];
      const reserved = ledger.reserved(device);
      const ours = this.#ours(device, reading, types.length);
      // Without per-process figures, whatever exceeds our leases counts as foreign too (what another
      // process takes inside our leases' unused part shows only once our batches end: see #ours).
      const foreign = reading.usedMiB - ours;
      ledger.setExternal(device, Math.max(0, reading.ownMiB === undefined ? Math.max(foreign, reading.usedMiB - reserved) : foreign));
      if (types.length === 1 && this.input.observations.record(types[0]!, ours, reserved)) {
        const seen = this.input.observations.get(types[0]!)!;
        this.input.logger.warn(
          { type: types[0], usedGb: seen.peakGb, leaseGb: seen.leaseGb, suggestedGb: seen.suggestedGb },
          `${types[0]} uses ${seen.peakGb} GB of VRAM but its lease is ${seen.leaseGb} GB: set its vramGb to ${seen.suggestedGb}`,
        );
      }
    }
  }

  /**
   * Our own use on `device`: the per-process figure when there is one; otherwise everything
   * above the foreign use last seen while the device was idle.
   */
  #ours(device: number, reading: GpuReading, batches: number): number {
    if (reading.ownMiB !== undefined) return Math.min(reading.ownMiB, reading.usedMiB);
    if (batches === 0) {
      this.#idleForeign.set(device, reading.usedMiB);
      return 0;
    }
    return Math.max(0, reading.usedMiB - (this.#idleForeign.get(device) ?? 0));
  }
}

