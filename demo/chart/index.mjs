// The demo's picture: a recorded timeline (see ../recorder.mjs) drawn as a Gantt chart of
// batches per device with each device's reserved VRAM, written as SVG and PNG.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layoutChart } from './layout.mjs';
import { renderPng } from './png.mjs';
import { renderSvg } from './svg.mjs';

/** Writes `<dir>/<name>.svg` and `<dir>/<name>.png` (creating dir); returns their paths and the size. */
export function writeChart(timeline, dir, name = 'timeline') {
  const chart = layoutChart(timeline);
  mkdirSync(dir, { recursive: true });
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  writeFileSync(svgPath, renderSvg(chart));
  writeFileSync(pngPath, renderPng(chart));
  return { svgPath, pngPath, width: chart.width, height: chart.height };
}
