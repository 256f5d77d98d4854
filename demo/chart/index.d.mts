/** Types of the demo's chart module (index.mjs), for the tests that import it. */

/** What the demo records while it runs; times are ms since the demo started. */
export interface Timeline {
  title?: string;
  /** The right edge of the chart. */
  endMs: number;
  /** Task types in legend order; a type's place here picks its colour. */
  types: string[];
  devices: { id: string; vramGb: number }[];
  batches: RecordedBatch[];
  /** Per device id: its reserved VRAM each time it was seen to change. */
  vram: Record<string, { atMs: number; reservedGb: number }[]>;
  /** Tasks of `gpu: false` types: no device, no VRAM. */
  freeLane: { type: string; startMs: number; endMs: number; ok: boolean }[];
}

export interface RecordedBatch {
  /** 1, 2, … in start order. */
  n: number;
  type: string;
  device: string;
  leaseGb: number;
  startMs: number;
  endMs: number;
  /** Tasks the batch started (batch:ended's count). */
  tasks: number;
  /** Intervals with at least one of its tasks in flight; the rest of [startMs, endMs] it was warm and idle. */
  busy: [number, number][];
  /** When each of its tasks started, and whether it succeeded (a task retried starts once per attempt). */
  taskStarts: { atMs: number; ok: boolean }[];
  reason?: string;
}

export type Shape =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill: string; role?: string; type?: string; device?: string; title?: string }
  | { kind: 'line'; points: [number, number][]; stroke: string; width: number; dash?: [number, number]; role?: string; device?: string }
  | { kind: 'area'; points: [number, number][]; baseY: number; fill: string }
  | { kind: 'text'; x: number; y: number; text: string; size: number; fill: string; anchor?: 'start' | 'middle' | 'end'; weight?: 'bold' };

export interface Chart {
  width: number;
  height: number;
  background: string;
  shapes: Shape[];
}

export function writeChart(timeline: Timeline, dir: string, name?: string): { svgPath: string; pngPath: string; width: number; height: number };
