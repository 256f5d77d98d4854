import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CPU_DEVICE, detectDevices, type GpuController } from '../../src/gpu/detect.js';
import { parseGpuRows } from '../../src/gpu/nvidia-smi.js';
import { systemUsage } from '../../src/gpu/usage.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40).map((l) => String(l.msg)) };
}

const probeOf = (controllers: GpuController[]) => vi.fn(async () => controllers);

const H100: GpuController = {
  vendor: 'NVIDIA Corporation', model: 'GH100 [H100 SXM5 80GB HBM3]', name: 'NVIDIA H100 80GB HBM3', vram: 81559, vramDynamic: false,
  memoryTotal: 81559, memoryUsed: 0, memoryFree: 81002, pciBus: '00000000:18:00.0', subDeviceId: '0x16C110DE',
};
const INTEL_IGPU: GpuController = { vendor: 'Intel Corporation', model: 'UHD Graphics 630', vram: 128, vramDynamic: true };
const CPU = { id: 'cpu', index: 0, capacityMiB: 0x7fffffff, unlimited: true };

afterEach(() => {
  vi.useRealTimers();
});

describe('detectDevices', () => {
  it('uses configured devices as given, in MiB, without probing', async () => {
    const probe = probeOf([H100]);
    const log = capture();
    const devices = await detectDevices([{ id: 'a', vramGb: 24 }, { id: 'b', vramGb: 0.5 }], log.logger, probe);
    expect(devices).toEqual([
      { id: 'a', index: 0, capacityMiB: 24576, unlimited: false },
      { id: 'b', index: 1, capacityMiB: 512, unlimited: false },
    ]);
    expect(probe).not.toHaveBeenCalled();
    expect(String(log.lines[0]?.msg)).toContain('configured');
  });

  it('turns NVIDIA controllers with memoryTotal into gpu<N>, skipping other vendors', async () => {
    const log = capture();
    const second = { ...H100, pciBus: '00000000:2A:00.0', memoryTotal: 40960, vram: 40960 };
    const devices = await detectDevices(undefined, log.logger, probeOf([H100, INTEL_IGPU, second]));
    expect(devices).toEqual([
      { id: 'gpu0', index: 0, capacityMiB: 81559, unlimited: false, name: 'NVIDIA H100 80GB HBM3' },
      { id: 'gpu1', index: 1, capacityMiB: 40960, unlimited: false, name: 'NVIDIA H100 80GB HBM3' },
    ]);
    expect(log.warnings()).toEqual([]);
    expect(String(log.lines.at(-1)?.msg)).toContain('Detected 2 GPU(s)');
  });

  it('falls back to vram for an NVIDIA controller without memoryTotal, with a warning', async () => {
    const log = capture();
    const devices = await detectDevices(undefined, log.logger, probeOf([{ vendor: 'NVIDIA', model: 'GeForce RTX 4090', vram: 24564, vramDynamic: false }]));
    expect(devices).toEqual([{ id: 'gpu0', index: 0, capacityMiB: 24564, unlimited: false, name: 'GeForce RTX 4090' }]);
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toContain('options.devices');
  });

  it('skips an NVIDIA controller with no memory size', async () => {
    const log = capture();
    const devices = await detectDevices(undefined, log.logger, probeOf([{ vendor: 'NVIDIA Corporation', model: 'GA102', vram: null }]));
    expect(devices).toEqual([CPU]);
    expect(log.warnings()[0]).toContain('without a reported memory size');
  });

  it.each([
    ['a non-NVIDIA integrated GPU', [INTEL_IGPU]],
    ['an AMD card', [{ vendor: 'Advanced Micro Devices, Inc. [AMD/ATI]', model: 'Navi 31', vram: 24576, vramDynamic: false }]],
    ['an empty list', []],
  ])('gives one unlimited cpu device for %s', async (_label, controllers: GpuController[]) => {
    const log = capture();
    const devices = await detectDevices(undefined, log.logger, probeOf(controllers));
    expect(devices).toEqual([CPU]);
    expect(devices[0]).not.toBe(CPU_DEVICE);
    expect(String(log.lines.at(-1)?.msg)).toContain('No NVIDIA GPU found');
  });

  it('gives the cpu device when the probe throws, and logs why', async () => {
    const log = capture();
    const devices = await detectDevices(undefined, log.logger, async () => {
      throw new Error('nvidia-smi exploded');
    });
    expect(devices).toEqual([CPU]);
    expect(log.lines.find((l) => l.level === 40)).toMatchObject({ err: { message: 'nvidia-smi exploded' } });
  });

  it('gives the cpu device when the probe hangs', async () => {
    vi.useFakeTimers();
    const log = capture();
    const pending = detectDevices(undefined, log.logger, () => new Promise<GpuController[]>(() => undefined));
    await vi.advanceTimersByTimeAsync(15_000);
    await expect(pending).resolves.toEqual([CPU]);
    expect(log.warnings()[0]).toContain('GPU detection failed');
  });

  it('asks systeminformation on this machine', { timeout: 20_000 }, async () => {
    const log = capture();
    const devices = await detectDevices(undefined, log.logger);
    const hasNvidiaSmi = spawnSync('nvidia-smi', ['-L']).status === 0;
    if (hasNvidiaSmi) {
      // On a GPU machine: real GPUs with a real size.
      expect(devices.every((d) => d.id.startsWith('gpu') && d.capacityMiB > 0 && !d.unlimited)).toBe(true);
    } else {
      expect(devices).toEqual([CPU]);
    }
  });
});

describe('nvidia-smi, asked directly', () => {
  // What nvidia-smi printed on an H100 VM where systeminformation, lacking lspci, reported
  // 81,079 MiB from clinfo and no used memory.
  const H100_ROW = '0, NVIDIA H100 80GB HBM3, 81559, 1200, 00000000:00:06.0';

  it('reads its rows, skipping ones without a size and keeping no figure for [N/A]', () => {
    const csv = [H100_ROW, '1, NVIDIA A10, 23028, [N/A], 00000000:41:00.0', '2, broken', 'No devices were found', ''].join('\n');
    expect(parseGpuRows(csv)).toEqual([
      { vendor: 'NVIDIA', name: 'NVIDIA H100 80GB HBM3', model: 'NVIDIA H100 80GB HBM3', memoryTotal: 81559, memoryUsed: 1200, pciBus: '00000000:00:06.0' },
      { vendor: 'NVIDIA', name: 'NVIDIA A10', model: 'NVIDIA A10', memoryTotal: 23028, pciBus: '00000000:41:00.0' },
    ]);
  });

  describe('with an nvidia-smi on the PATH', () => {
    let dir: string;
    let path: string | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'fake-smi-'));
      // Answers detection's query with the H100 row, and lists its caller as using 700 MiB.
      const script = `#!/bin/sh\ncase "$1" in\n  --query-gpu=*) echo '${H100_ROW}' ;;\n  --query-compute-apps=*) echo "00000000:00:06.0, $PPID, 700" ; echo '00000000:00:06.0, 1, 300' ;;\n  *) exit 9 ;;\nesac\n`;
      writeFileSync(join(dir, 'nvidia-smi'), script, { mode: 0o755 });
      path = process.env.PATH;
      process.env.PATH = `${dir}${delimiter}${path ?? ''}`;
    });
    afterEach(() => {
      process.env.PATH = path;
      rmSync(dir, { recursive: true, force: true });
    });

    it('detects the card at the size nvidia-smi gives, without a warning', async () => {
      const log = capture();
      expect(await detectDevices(undefined, log.logger)).toEqual([{ id: 'gpu0', index: 0, capacityMiB: 81559, unlimited: false, name: 'NVIDIA H100 80GB HBM3' }]);
      expect(log.warnings()).toEqual([]);
    });

    it("reads used VRAM and this process's share for the GPU monitor", async () => {
      expect(await systemUsage()).toEqual([{ usedMiB: 1200, ownMiB: 700 }]);
    });
  });
});
