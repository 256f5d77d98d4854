// Where everything goes on the chart, in pixels: one list of shapes that both the SVG and the
// PNG writer draw, so the two pictures always agree.
//
// Per device: a Gantt row of batches (a batch that overlaps another on the same device gets its
// own track), drawn light for the whole time it held its lease and solid while it had a task in
// flight, with a tick at each task start (a red bar where a task failed); under it a strip with the device's reserved VRAM over
// time (a step line over a filled area, 0 at the bottom, the device's capacity at the top).
// Free-lane tasks (no device, no VRAM) get a thin row of their own at the bottom.
import { gb as formatGb } from '../view/words.mjs';

const WIDTH = 1200;
const LEFT = 96; // device labels
const RIGHT = 64; // VRAM axis labels
const TOP = 70; // title and legend
const TRACK = 24; // height of one batch track
const TRACK_GAP = 4;
const STRIP = 56; // the VRAM strip under a device's batches
const DEVICE_GAP = 22;
const LANE_TRACK = 7; // free-lane task rows
const AXIS = 40; // time axis at the bottom

const COLORS = {
  background: '#ffffff',
  text: '#1f2430',
  muted: '#6b7280',
  grid: '#e5e7eb',
  lane: '#f5f6f8',
  vramArea: '#c7d7ee',
  vramLine: '#1d3b6a',
  capacity: '#9aa3b2',
  failed: '#e0201b',
  tick: '#ffffff',
};
/** Colours of the task types, in the order the timeline lists its types. */
const PALETTE = ['#3d6fb6', '#e07b39', '#3f9a5a', '#8461b6', '#279c9a', '#b39022', '#5f6f86', '#c06c9b'];

/**
 * @param {import('./index.mjs').Timeline} timeline
 * @returns {import('./index.mjs').Chart}
 */
export function layoutChart(timeline) {
  const shapes = [];
  const endMs = Math.max(1, timeline.endMs);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (ms) => LEFT + (Math.min(Math.max(ms, 0), endMs) / endMs) * plotWidth;
  const colorOf = typeColors(timeline);

  // Title and legend.
  shapes.push({ kind: 'text', x: LEFT, y: 24, text: timeline.title ?? 'vram-scheduler: batches per device', size: 16, fill: COLORS.text, weight: 'bold' });
  let legendX = LEFT;
  for (const type of timeline.types) {
    shapes.push({ kind: 'rect', x: legendX, y: 40, w: 14, h: 12, fill: colorOf(type), role: 'legend' });
    shapes.push({ kind: 'text', x: legendX + 20, y: 50, text: type, size: 11, fill: COLORS.text });
    legendX += 20 + type.length * 7 + 22;
  }
  shapes.push({ kind: 'rect', x: legendX, y: 40, w: 14, h: 12, fill: lighten(PALETTE[0], 0.6), role: 'legend' });
  shapes.push({ kind: 'text', x: legendX + 20, y: 50, text: 'light: warm, idle', size: 11, fill: COLORS.text });
  legendX += 20 + 17 * 7 + 22;
  shapes.push({ kind: 'rect', x: legendX + 6, y: 40, w: 2, h: 12, fill: COLORS.failed, role: 'legend' });
  shapes.push({ kind: 'text', x: legendX + 20, y: 50, text: 'failed task', size: 11, fill: COLORS.text });
  legendX += 20 + 11 * 7 + 22;
  shapes.push({ kind: 'line', points: [[legendX, 46], [legendX + 14, 46]], stroke: COLORS.vramLine, width: 2 });
  shapes.push({ kind: 'text', x: legendX + 20, y: 50, text: 'reserved VRAM', size: 11, fill: COLORS.text });

  // Rows: the devices, then the free lane.
  let y = TOP;
  const rows = [];
  for (const device of timeline.devices) {
    const batches = timeline.batches.filter((b) => b.device === device.id);
    const tracks = assignTracks(batches, (b) => b.startMs, (b) => b.endMs);
    const trackCount = Math.max(1, ...tracks.map((t) => t + 1));
    const ganttTop = y;
    const ganttHeight = trackCount * (TRACK + TRACK_GAP) - TRACK_GAP;
    rows.push({ top: ganttTop, bottom: ganttTop + ganttHeight + 6 + STRIP });

    shapes.push({ kind: 'rect', x: LEFT, y: ganttTop, w: plotWidth, h: ganttHeight, fill: COLORS.lane, role: 'lane' });
    shapes.push({ kind: 'text', x: LEFT - 10, y: ganttTop + 16, text: device.id, size: 13, fill: COLORS.text, anchor: 'end', weight: 'bold' });
    shapes.push({ kind: 'text', x: LEFT - 10, y: ganttTop + 30, text: `${formatGb(device.vramGb)} GB`, size: 11, fill: COLORS.muted, anchor: 'end' });

    batches.forEach((batch, i) => {
      const top = ganttTop + tracks[i] * (TRACK + TRACK_GAP);
      const left = x(batch.startMs);
      const right = Math.max(left + 1, x(batch.endMs));
      const color = colorOf(batch.type);
      const label = `${batch.type} ×${batch.tasks}`;
      shapes.push({ kind: 'rect', x: left, y: top, w: right - left, h: TRACK, fill: lighten(color, 0.6), role: 'batch', type: batch.type, device: batch.device, title: `#${batch.n} ${label}, lease ${formatGb(batch.leaseGb)} GB, ${seconds(batch.startMs)}–${seconds(batch.endMs)} s` });
      for (const [from, to] of batch.busy) {
        const busyLeft = x(from);
        shapes.push({ kind: 'rect', x: busyLeft, y: top, w: Math.max(1, x(to) - busyLeft), h: TRACK, fill: color, role: 'busy', type: batch.type });
      }
      // A tick where each task started (the first one is the batch's left edge); a failed task's is red and full height.
      for (const { atMs, ok } of batch.taskStarts) {
        const tx = Math.round(x(atMs));
        if (!ok) shapes.push({ kind: 'rect', x: tx, y: top, w: 2, h: TRACK, fill: COLORS.failed, role: 'failed' });
        else if (tx - left >= 2) shapes.push({ kind: 'rect', x: tx, y: top + TRACK - 6, w: 1, h: 6, fill: COLORS.tick, role: 'tick' });
      }
      if (label.length * 6.5 + 8 < right - left) shapes.push({ kind: 'text', x: left + 5, y: top + 16, text: label, size: 11, fill: '#ffffff', weight: 'bold' });
    });

    // The reserved-VRAM strip.
    const stripTop = ganttTop + ganttHeight + 6;
    const stripBottom = stripTop + STRIP;
    const samples = timeline.vram[device.id] ?? [];
    const scaleGb = Number.isFinite(device.vramGb) ? device.vramGb : Math.max(1, ...samples.map((s) => s.reservedGb));
    const yOf = (gb) => stripBottom - (Math.min(gb, scaleGb) / scaleGb) * STRIP;
    const step = stepPoints(samples, endMs).map(([ms, gb]) => [x(ms), yOf(gb)]);
    shapes.push({ kind: 'rect', x: LEFT, y: stripTop, w: plotWidth, h: STRIP, fill: COLORS.lane, role: 'strip' });
    shapes.push({ kind: 'area', points: step, baseY: stripBottom, fill: COLORS.vramArea });
    shapes.push({ kind: 'line', points: [[LEFT, stripTop], [LEFT + plotWidth, stripTop]], stroke: COLORS.capacity, width: 1, dash: [4, 3] });
    shapes.push({ kind: 'line', points: step, stroke: COLORS.vramLine, width: 2, role: 'vram', device: device.id });
    shapes.push({ kind: 'text', x: LEFT - 10, y: stripTop + STRIP / 2 + 4, text: 'VRAM', size: 11, fill: COLORS.muted, anchor: 'end' });
    shapes.push({ kind: 'text', x: LEFT + plotWidth + 6, y: stripTop + 8, text: `${formatGb(scaleGb)} GB`, size: 11, fill: COLORS.muted });
    shapes.push({ kind: 'text', x: LEFT + plotWidth + 6, y: stripBottom, text: '0', size: 11, fill: COLORS.muted });
    y = stripBottom + DEVICE_GAP;
  }

  if (timeline.freeLane.length > 0) {
    const tracks = assignTracks(timeline.freeLane, (t) => t.startMs, (t) => t.endMs);
    const trackCount = Math.max(1, ...tracks.map((t) => t + 1));
    const height = Math.max(20, trackCount * LANE_TRACK + 4);
    rows.push({ top: y, bottom: y + height });
    shapes.push({ kind: 'rect', x: LEFT, y, w: plotWidth, h: height, fill: COLORS.lane, role: 'lane' });
    shapes.push({ kind: 'text', x: LEFT - 10, y: y + 10, text: 'free lane', size: 11, fill: COLORS.text, anchor: 'end', weight: 'bold' });
    shapes.push({ kind: 'text', x: LEFT - 10, y: y + 22, text: 'no VRAM', size: 11, fill: COLORS.muted, anchor: 'end' });
    timeline.freeLane.forEach((task, i) => {
      const left = x(task.startMs);
      shapes.push({ kind: 'rect', x: left, y: y + 2 + tracks[i] * LANE_TRACK, w: Math.max(2, x(task.endMs) - left), h: LANE_TRACK - 2, fill: task.ok ? colorOf(task.type) : COLORS.failed, role: 'free-task', type: task.type });
    });
    y += height + DEVICE_GAP;
  }

  // Time axis: a grid line and a label per tick, behind everything else (drawn first).
  const axisY = y - DEVICE_GAP + 10;
  const grid = [];
  const tickMs = niceStep(endMs / 10);
  for (let ms = 0; ms <= endMs + 1e-9; ms += tickMs) {
    const tx = x(ms);
    for (const row of rows) grid.push({ kind: 'line', points: [[tx, row.top], [tx, row.bottom]], stroke: COLORS.grid, width: 1 });
    grid.push({ kind: 'line', points: [[tx, axisY], [tx, axisY + 5]], stroke: COLORS.muted, width: 1 });
    grid.push({ kind: 'text', x: tx, y: axisY + 18, text: `${seconds(ms)} s`, size: 11, fill: COLORS.muted, anchor: 'middle' });
  }
  grid.push({ kind: 'line', points: [[LEFT, axisY], [LEFT + plotWidth, axisY]], stroke: COLORS.muted, width: 1 });
  const height = axisY + AXIS - 10;
  // Lanes first (backgrounds), then the grid over them, then the rest.
  const lanes = shapes.filter((s) => s.role === 'lane' || s.role === 'strip');
  const rest = shapes.filter((s) => s.role !== 'lane' && s.role !== 'strip');
  return { width: WIDTH, height: Math.ceil(height), background: COLORS.background, shapes: [...lanes, ...grid, ...rest] };
}

/** A colour per type, by its place in `timeline.types` (types it does not list get the last one). */
function typeColors(timeline) {
  return (type) => {
    const i = timeline.types.indexOf(type);
    return PALETTE[(i < 0 ? PALETTE.length - 1 : i) % PALETTE.length];
  };
}

/** Greedy interval colouring: each item gets the lowest track free at its start. */
function assignTracks(items, startOf, endOf) {
  const order = items.map((_, i) => i).sort((a, b) => startOf(items[a]) - startOf(items[b]));
  const trackEnds = [];
  const tracks = new Array(items.length);
  for (const i of order) {
    let track = trackEnds.findIndex((end) => end <= startOf(items[i]));
    if (track < 0) track = trackEnds.length;
    trackEnds[track] = endOf(items[i]);
    tracks[i] = track;
  }
  return tracks;
}

/** The corners of a step line through the samples, from 0 ms (at 0 GB until the first sample) to endMs. */
function stepPoints(samples, endMs) {
  const points = [[0, 0]];
  let gb = 0;
  for (const sample of [...samples].sort((a, b) => a.atMs - b.atMs)) {
    if (sample.reservedGb === gb) continue;
    points.push([sample.atMs, gb], [sample.atMs, sample.reservedGb]);
    gb = sample.reservedGb;
  }
  points.push([endMs, gb]);
  return points;
}

/** 1, 2 or 5 times a power of ten, at least `ms`. */
function niceStep(ms) {
  const power = 10 ** Math.floor(Math.log10(Math.max(ms, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= ms);
}

/** `hex` mixed with white: 0 keeps it, 1 is white. */
function lighten(hex, amount) {
  const [r, g, b] = parseHex(hex).map((c) => Math.round(c + (255 - c) * amount));
  return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

export function parseHex(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

const seconds = (ms) => `${+(ms / 1000).toFixed(1)}`;
