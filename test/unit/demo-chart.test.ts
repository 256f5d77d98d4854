/**
 * The demo's chart (demo/chart): from a small recorded timeline it writes an SVG with a
 * rectangle per batch, placed by device and time, and a PNG of the same size whose pixels show
 * the batches where they ran and nothing where none did.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { expect, it } from 'vitest';
import { writeChart, type Timeline } from '../../demo/chart/index.mjs';

// gpu0 runs summarize for 0–4 s (busy until 3 s, then warm and idle; its third task fails) and,
// beside it, embed for 1–2 s; gpu1 runs chat for 2–5 s and nothing before.
const timeline: Timeline = {
  title: 'test chart',
  endMs: 5000,
  types: ['summarize', 'embed', 'chat', 'fetch_page'],
  devices: [
    { id: 'gpu0', vramGb: 24 },
    { id: 'gpu1', vramGb: 16 },
  ],
  batches: [
    { n: 1, type: 'summarize', device: 'gpu0', leaseGb: 16, startMs: 0, endMs: 4000, tasks: 3, busy: [[0, 3000]], taskStarts: [{ atMs: 0, ok: true }, { atMs: 1500, ok: true }, { atMs: 2500, ok: false }], reason: 'stopped' },
    { n: 2, type: 'embed', device: 'gpu0', leaseGb: 6, startMs: 1000, endMs: 2000, tasks: 2, busy: [[1000, 2000]], taskStarts: [{ atMs: 1000, ok: true }, { atMs: 1500, ok: true }], reason: 'evicted' },
    { n: 3, type: 'chat', device: 'gpu1', leaseGb: 12, startMs: 2000, endMs: 5000, tasks: 1, busy: [[2000, 5000]], taskStarts: [{ atMs: 2000, ok: true }], reason: 'drained' },
  ],
  vram: {
    gpu0: [{ atMs: 0, reservedGb: 16 }, { atMs: 1000, reservedGb: 22 }, { atMs: 2000, reservedGb: 16 }, { atMs: 4000, reservedGb: 0 }],
    gpu1: [{ atMs: 2000, reservedGb: 12 }, { atMs: 5000, reservedGb: 0 }],
  },
  freeLane: [{ type: 'fetch_page', startMs: 500, endMs: 900, ok: true }],
};

interface SvgRect { x: number; y: number; width: number; height: number; fill: string; class?: string; type?: string; device?: string }

/** Every <rect> of the SVG with its attributes. */
function rects(svg: string): SvgRect[] {
  return [...svg.matchAll(/<rect ([^>]*?)\/?>/g)].map(([, attributes]) => {
    const get = (name: string) => new RegExp(`(?:^| )${name}="([^"]*)"`).exec(attributes!)?.[1];
    return { x: Number(get('x') ?? 0), y: Number(get('y') ?? 0), width: Number(get('width')), height: Number(get('height')), fill: get('fill')!, class: get('class'), type: get('data-type'), device: get('data-device') };
  });
}

const out = mkdtempSync(join(tmpdir(), 'vs-demo-chart-'));
const written = writeChart(timeline, out, 'chart');
const svg = readFileSync(written.svgPath, 'utf8');
const png = PNG.sync.read(readFileSync(written.pngPath));
const all = rects(svg);
const batch = (type: string) => all.find((r) => r.class === 'batch' && r.type === type)!;
const busy = (type: string) => all.filter((r) => r.class === 'busy' && r.type === type);

/** The PNG's colour at (x, y) as #rrggbb. */
function pixel(x: number, y: number): string {
  const i = (Math.round(y) * png.width + Math.round(x)) * 4;
  return `#${[0, 1, 2].map((c) => png.data[i + c]!.toString(16).padStart(2, '0')).join('')}`;
}

it('writes an SVG with one rectangle per batch, on its device, placed and sized by its times', () => {
  expect(svg.startsWith('<svg')).toBe(true);
  const batches = all.filter((r) => r.class === 'batch');
  expect(batches.map((r) => [r.type, r.device])).toEqual([['summarize', 'gpu0'], ['embed', 'gpu0'], ['chat', 'gpu1']]);

  const summarize = batch('summarize');
  const embed = batch('embed');
  const chat = batch('chat');
  const pxPerMs = summarize.width / 4000;
  expect(embed.width).toBeCloseTo(1000 * pxPerMs, 0);
  expect(chat.width).toBeCloseTo(3000 * pxPerMs, 0);
  expect(embed.x - summarize.x).toBeCloseTo(1000 * pxPerMs, 0);
  expect(chat.x - summarize.x).toBeCloseTo(2000 * pxPerMs, 0);
  // embed overlaps summarize on gpu0, so it gets its own track; gpu1's row is below gpu0's.
  expect(embed.y).not.toBe(summarize.y);
  expect(chat.y).toBeGreaterThan(Math.max(summarize.y, embed.y));

  // The busy part of summarize is 0–3 s of its 4 s; the failed task has a mark; one VRAM line per device.
  expect(busy('summarize')).toHaveLength(1);
  expect(busy('summarize')[0]!.width).toBeCloseTo(3000 * pxPerMs, 0);
  expect(all.filter((r) => r.class === 'failed')).toHaveLength(1);
  expect([...svg.matchAll(/<polyline class="vram"/g)]).toHaveLength(2);
  expect(all.filter((r) => r.class === 'free-task')).toHaveLength(1);
});

it('writes a PNG of the same size that shows each batch where it ran and nothing where none did', () => {
  expect([png.width, png.height]).toEqual([written.width, written.height]);
  expect(svg).toContain(`width="${png.width}" height="${png.height}"`);

  const background = pixel(1, 1);
  const summarize = batch('summarize');
  const chat = batch('chat');
  const pxPerMs = summarize.width / 4000;
  const middleOf = (r: SvgRect) => r.y + r.height / 2;

  // Where a batch had work: its type's colour, which is not the background.
  for (const [type, atMs] of [['summarize', 1000], ['embed', 1800], ['chat', 4000]] as const) {
    const r = busy(type)[0]!;
    const colour = pixel(summarize.x + atMs * pxPerMs, middleOf(r));
    expect(colour, `${type} at ${atMs} ms`).toBe(r.fill);
    expect(colour).not.toBe(background);
  }
  // Warm and idle (3–4 s): the batch's light colour. The failed task (2.5 s): a red mark.
  expect(pixel(summarize.x + 3500 * pxPerMs, middleOf(summarize))).toBe(summarize.fill);
  expect(pixel(summarize.x + 2500 * pxPerMs, middleOf(summarize))).toBe(all.find((r) => r.class === 'failed')!.fill);
  // gpu1 before chat started (1.25 s, between grid lines): the empty lane, not a batch colour.
  const lane = all.find((r) => r.class === 'lane' && r.y <= chat.y && chat.y < r.y + r.height)!;
  expect(pixel(summarize.x + 1250 * pxPerMs, middleOf(chat))).toBe(lane.fill);
});
