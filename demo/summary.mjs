// The tables printed after the run: batches, per type, per priority, and VRAM per device.
import { gb } from './view/words.mjs';

/**
 * Prints the tables; returns true if any device was ever seen reserved past its capacity (a bug).
 * @param {{ recorder: import('./recorder.mjs').Recorder, results: import('vram-scheduler').TaskResult[], types: string[], devices: { id: string, vramGb: number }[], endMs: number }} run
 */
export function printSummary({ recorder, results, types, devices, endMs }) {
  const loadsOf = new Map(); // batch → the distinct model loads its tasks reported
  for (const r of results) {
    const batch = recorder.tasks.get(r.id)?.batch;
    if (batch && r.value?.loadId) loadsOf.set(batch, (loadsOf.get(batch) ?? new Set()).add(r.value.loadId));
  }
  const s = (ms) => (ms / 1000).toFixed(1);

  console.log('\nBatches (a batch loads its model once, however many tasks it runs)');
  table(
    ['#', 'type', 'device', 'lease GB', 'tasks', 'model loads', 'start → end s', 'busy %', 'ended'],
    recorder.batches.map((b) => {
      const end = Number.isNaN(b.endMs) ? endMs : b.endMs;
      const busyMs = b.busy.reduce((sum, [from, to]) => sum + ((Number.isNaN(to) ? end : to) - from), 0);
      return [b.n, b.type, b.device, gb(b.leaseGb), b.tasks, loadsOf.get(b)?.size ?? 0, `${s(b.startMs)} → ${s(end)}`, Math.round((100 * busyMs) / Math.max(1, end - b.startMs)), b.reason ?? 'running'];
    }),
  );

  console.log('\nPer type');
  table(
    ['type', 'tasks', 'failed', 'tokens', 'mean wait ms', 'mean run ms', 'a result'],
    types.map((type) => {
      const mine = results.filter((r) => r.type === type);
      const ok = mine.find((r) => r.status === 'succeeded');
      const tokens = mine.reduce((sum, r) => sum + (r.value?.tokens ?? 0), 0);
      const ran = mine.filter((r) => r.startedAt !== undefined);
      return [type, mine.length, mine.length - (mine.filter((r) => r.status === 'succeeded').length), tokens || '-', mean(ran.map((r) => r.startedAt - r.queuedAt)), mean(ran.map((r) => r.finishedAt - r.startedAt)), ok?.value.text.slice(0, 44) ?? '-'];
    }),
  );

  console.log('\nWait from submit to start, per priority (the late wave is mostly high and critical)');
  table(
    ['priority', 'tasks', 'p50 ms', 'max ms'],
    ['critical', 'high', 'normal', 'low'].map((priority) => {
      const waits = results.filter((r) => r.startedAt !== undefined && recorder.tasks.get(r.id)?.priority === priority).map((r) => r.startedAt - r.queuedAt);
      return [priority, waits.length, quantile(waits, 0.5), waits.length ? Math.max(...waits) : '-'];
    }),
  );

  console.log('\nReserved VRAM per device (sampled at every event and every 100 ms)');
  let overCapacity = false;
  table(
    ['device', 'capacity GB', 'peak GB', 'mean GB', 'check'],
    devices.map((d) => {
      const samples = recorder.vram.get(d.id) ?? [];
      const peak = Math.max(0, ...samples.map((x) => x.reservedGb));
      const over = peak > d.vramGb;
      overCapacity ||= over;
      return [d.id, gb(d.vramGb), gb(peak), gb(timeWeightedMean(samples, endMs)), over ? 'OVER CAPACITY: this is a bug' : 'ok'];
    }),
  );
  return overCapacity;
}

/** The mean of a step function given by its change points, over [0, endMs]. */
function timeWeightedMean(samples, endMs) {
  let area = 0;
  samples.forEach((x, i) => (area += x.reservedGb * ((samples[i + 1]?.atMs ?? endMs) - x.atMs)));
  return endMs > 0 ? area / endMs : 0;
}

const mean = (xs) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : '-');

function quantile(xs, q) {
  if (xs.length === 0) return '-';
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A plain text table: numbers right-aligned, the rest left-aligned. */
function table(headers, rows) {
  const cells = [headers, ...rows].map((row) => row.map(String));
  const widths = headers.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const numeric = headers.map((_, c) => rows.every((row) => typeof row[c] === 'number' || /^[\d.∞-]+$/.test(String(row[c]))));
  for (const row of cells) console.log('  ' + row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd());
}
