/**
 * What `vram-scheduler status` and `inspect` show, read from a task store another process may
 * be writing. Pure: a reader in, plain data or text out.
 */
import { PRIORITIES, type Priority, type TaskRecord, type TaskStatus } from '../task.js';
import type { TaskStoreReader } from '../store/task-store.js';

export interface StatusReport {
  dataDir: string;
  /** When the store was read, epoch ms. */
  readAt: number;
  /** Queued tasks per type, split by priority. */
  queued: Record<string, Record<Priority | 'total', number>>;
  running: { id: string; type: string; priority: Priority; device?: string; startedAt?: number; attempts?: number }[];
  /** The latest failures, newest first. */
  recentFailures: { id: string; type: string; finishedAt?: number; error?: { code: string; message: string } }[];
  /** Every stored task by status. */
  counts: Record<TaskStatus, number>;
}

export function statusReport(store: TaskStoreReader, failures: number, now = Date.now()): StatusReport {
  const queued: StatusReport['queued'] = {};
  for (const entry of store.queued()) {
    const row = (queued[entry.type] ??= { critical: 0, high: 0, normal: 0, low: 0, total: 0 });
    row[entry.priority]++;
    row.total++;
  }
  return {
    dataDir: store.dir,
    readAt: now,
    queued,
    running: store.running().map((r) => pick(r, ['id', 'type', 'priority', 'device', 'startedAt', 'attempts'])),
    recentFailures: store.ended('failed', failures).map((r) => pick(r, ['id', 'type', 'finishedAt', 'error'])),
    counts: store.counts(),
  };
}

export function formatStatus(report: StatusReport): string {
  const lines = [`Task store ${report.dataDir}, read ${new Date(report.readAt).toISOString()}`, ''];
  const types = Object.keys(report.queued).sort();
  lines.push(`Queued: ${report.counts.queued}`);
  if (types.length > 0) {
    lines.push(...indented([['type', ...PRIORITIES.toReversed(), 'total'], ...types.map((t) => [t, ...PRIORITIES.toReversed().map((p) => String(report.queued[t]![p])), String(report.queued[t]!.total)])]));
  }
  lines.push('', `Running: ${report.running.length}`);
  if (report.running.length > 0) {
    lines.push(...indented([['id', 'type', 'device', 'running for', 'attempt'], ...report.running.map((r) => [r.id, r.type, r.device ?? '-', r.startedAt === undefined ? '-' : duration(report.readAt - r.startedAt), String(r.attempts ?? 1)])]));
  }
  lines.push('', `Recent failures (newest first): ${report.recentFailures.length}`);
  if (report.recentFailures.length > 0) {
    lines.push(...indented([['finished', 'id', 'type', 'code', 'message'], ...report.recentFailures.map((f) => [time(f.finishedAt), f.id, f.type, f.error?.code ?? '-', oneLine(f.error?.message ?? '')])]));
  }
  const { queued, running, succeeded, failed, cancelled } = report.counts;
  lines.push('', `Stored tasks: ${queued} queued, ${running} running, ${succeeded} succeeded, ${failed} failed, ${cancelled} cancelled`);
  return lines.join('\n');
}

/** One task's record as a short history. The record keeps the latest attempt's start and the previous attempt's error. */
export function formatTask(record: TaskRecord): string {
  const lines = [`Task ${record.id}`, ...indented([
    ['type', record.type],
    ['status', record.error ? `${record.status} (${record.error.code})` : record.status],
    ['priority', record.priority],
    ['seq', String(record.seq)],
    ...optional('attempts', record.attempts),
    ...optional('device', record.device),
    ...optional('key', record.key),
    ...optional('vramGb', record.vramGb),
    ...optional('timeoutMs', record.timeoutMs),
  ])];
  lines.push('', 'History');
  lines.push(`  ${time(record.queuedAt)}  queued`);
  if (record.lastError) lines.push(`  ${' '.repeat(24)}  an earlier attempt failed: ${record.lastError.code}: ${oneLine(record.lastError.message)}`);
  if (record.startedAt !== undefined) lines.push(`  ${time(record.startedAt)}  started${record.device ? ` on ${record.device}` : ''}${record.attempts && record.attempts > 1 ? ` (attempt ${record.attempts})` : ''}, after waiting ${duration(record.startedAt - record.queuedAt)}`);
  if (record.finishedAt !== undefined) {
    const took = record.startedAt === undefined ? '' : ` after running ${duration(record.finishedAt - record.startedAt)}`;
    lines.push(`  ${time(record.finishedAt)}  ${record.status}${took}${record.error ? `: ${record.error.code}: ${oneLine(record.error.message)}` : ''}`);
  }
  lines.push('', 'Payload', indent(json(record.payload)));
  if (record.value !== undefined) lines.push('', 'Result', indent(json(record.value)));
  return lines.join('\n');
}

function pick<T extends object, K extends keyof T>(record: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (record[key] !== undefined) out[key] = record[key];
  return out;
}

function optional(label: string, value: string | number | undefined): string[][] {
  return value === undefined ? [] : [[label, String(value)]];
}

/** Columns padded to their widest cell. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

const indented = (rows: string[][]): string[] => table(rows).map((line) => `  ${line}`);

const time = (ms: number | undefined): string => (ms === undefined ? '-'.padEnd(24) : new Date(ms).toISOString());

function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();
const indent = (text: string): string => text.split('\n').map((line) => `  ${line}`).join('\n');
const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) ?? String(value);
