#!/usr/bin/env node
/**
 * `vram-scheduler`: look into a task store from outside the process that runs the scheduler.
 * Opens the LMDB store read-only, so it is safe while the scheduler runs.
 *
 *   vram-scheduler status  [--data-dir DIR] [--json] [--failures N]
 *   vram-scheduler inspect <id> [--data-dir DIR] [--json]
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { formatStatus, formatTask, statusReport } from './cli/report.js';
import { SchedulerError } from './errors.js';
import { TaskStore, type TaskStoreReader } from './store/task-store.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const DATA_DIR = ['-d, --data-dir <dir>', "the scheduler's dataDir", './.vram-scheduler'] as const;

const program = new Command('vram-scheduler')
  .description('Look into a vram-scheduler task store (read-only, safe while the scheduler runs).')
  .version(version)
  .showHelpAfterError();

program
  .command('status')
  .description('queued tasks per type and priority, running tasks, recent failures')
  .option(...DATA_DIR)
  .option('--json', 'print JSON for scripts')
  .option('--failures <n>', 'how many recent failures to list', positiveInt, 10)
  .action((options: { dataDir: string; json?: boolean; failures: number }) => {
    const report = withStore(options.dataDir, (store) => statusReport(store, options.failures));
    console.log(options.json ? JSON.stringify(report, null, 2) : formatStatus(report));
  });

program
  .command('inspect')
  .description("one task's stored record: status, history, payload and result")
  .argument('<id>', 'task id (as returned by submit)')
  .option(...DATA_DIR)
  .option('--json', 'print the record as JSON')
  .action((id: string, options: { dataDir: string; json?: boolean }) => {
    const record = withStore(options.dataDir, (store) => store.getCommitted(id));
    if (!record) {
      console.error(`vram-scheduler: no task ${JSON.stringify(id)} in the task store at ${options.dataDir}`);
      process.exitCode = 1;
      return;
    }
    console.log(options.json ? JSON.stringify(record, null, 2) : formatTask(record));
  });

function withStore<T>(dataDir: string, read: (store: TaskStoreReader) => T): T {
  const store = TaskStore.openReadOnly({ dir: dataDir });
  try {
    return read(store);
  } finally {
    void store.close();
  }
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

try {
  await program.parseAsync();
} catch (error) {
  // Our errors carry a stable code and a message that says what to do; anything else is a bug worth its stack.
  console.error(error instanceof SchedulerError ? `vram-scheduler: ${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
