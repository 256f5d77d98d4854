/**
 * Smoke test of the demo as a newcomer runs it (small): it exits 0 without a terminal, prints
 * plain lines and the chart's path, and writes the SVG, the PNG and the recording it drew from.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { expect, it } from 'vitest';
import type { Timeline } from '../../demo/chart/index.mjs';
import { tempDir } from '../support/scheduler.js';

const demo = fileURLToPath(new URL('../../demo/demo.mjs', import.meta.url));

it('node demo/demo.mjs --tasks 6 --seed 1 exits 0 and writes timeline.svg, timeline.png and timeline.json', async () => {
  const out = tempDir('vs-demo-run-');
  // execFile: stdout is a pipe, not a TTY, so the demo prints plain lines instead of bars.
  const { stdout } = await promisify(execFile)(process.execPath, [demo, '--tasks', '6', '--seed', '1', '--out', out]);

  expect(stdout).toContain('submitted a burst of 5 tasks');
  expect(stdout).toMatch(/done 6\/6/);
  expect(stdout).toContain(`Chart: `);
  expect(stdout).toContain('timeline.png');
  expect(stdout).not.toContain('OVER CAPACITY');

  const timeline = JSON.parse(readFileSync(join(out, 'timeline.json'), 'utf8')) as Timeline;
  // Every task is in the recording: GPU tasks in their batches, the rest in the free lane.
  const recorded = timeline.batches.reduce((sum, b) => sum + b.tasks, 0) + timeline.freeLane.length;
  expect(recorded).toBe(6);
  expect(timeline.batches.length).toBeGreaterThan(0);

  const svg = readFileSync(join(out, 'timeline.svg'), 'utf8');
  expect([...svg.matchAll(/<rect [^>]*class="batch"/g)]).toHaveLength(timeline.batches.length);
  const png = PNG.sync.read(readFileSync(join(out, 'timeline.png')));
  expect(svg).toContain(`width="${png.width}" height="${png.height}"`);
});
