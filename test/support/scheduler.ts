/** Test helpers: a scheduler on a fresh data directory with a silent logger, and fixture paths. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createScheduler, type Scheduler, type SchedulerOptions } from 'vram-scheduler';

export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export const tempDir = (prefix = 'vs-test-'): string => mkdtempSync(join(tmpdir(), prefix));

export const silent: Logger = pino({ level: 'silent' });

/** A logger whose lines land in `lines`, for asserting on warnings. */
export function capturingLogger(level = 'warn'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Schedulers made by `start()` are closed after each test by `closeAll()`. */
const open: Scheduler[] = [];

/**
 * A scheduler on a fresh data directory with a silent logger and one 24 GB device. Types end
 * their batches as soon as their queue is empty (`keepAliveMs: 0`) unless a test says otherwise,
 * so most tests see leases return at drain; the warm-batch tests set it.
 */
export async function start(options: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'types'>): Promise<Scheduler> {
  const types = Object.fromEntries(Object.entries(options.types).map(([name, type]) => [name, { keepAliveMs: 0, ...type }]));
  const scheduler = await createScheduler({ dataDir: tempDir(), devices: [{ id: 'gpu0', vramGb: 24 }], logger: silent, ...options, types });
  open.push(scheduler);
  return scheduler;
}

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}
