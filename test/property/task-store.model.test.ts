/**
 * Model-based: any sequence of insert / markRunning / finish, then close + reopen + recover,
 * yields exactly the committed state (Promise 4 as far as the store is concerned).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { TaskStore } from '../../src/store/task-store.js';
import { PRIORITIES, PRIORITY_RANK, type Priority, type QueueEntry, type TaskRecord } from '../../src/task.js';
import { runs } from '../support/fast-check-setup.js';

type Model = { tasks: Map<string, TaskRecord>; clock: number };
type Real = { store: TaskStore };
type Terminal = { status: 'succeeded' | 'failed' | 'cancelled'; value?: unknown; error?: { code: string; message: string } };

const TYPES = ['embed', 'llm-a', 'llm-b'] as const;
let ids = 0;

function newTask(store: TaskStore, type: string, priority: Priority, payload: unknown, now: number): [TaskRecord, QueueEntry] {
  const seq = store.nextSeq();
  const id = `t${++ids}`;
  return [
    { id, type, seq, priority, payload, status: 'queued', queuedAt: now },
    { id, type, seq, priority, queuedAt: now, vramMiB: 0 },
  ];
}

function pick(model: Model, status: TaskRecord['status'], index: number): TaskRecord | undefined {
  const matching = [...model.tasks.values()].filter((t) => t.status === status);
  return matching.length === 0 ? undefined : matching[index % matching.length];
}

/** finish() resolves the state it wrote: the payload is stored apart, once, at insert. */
function withoutPayload({ payload: _payload, ...state }: TaskRecord): Omit<TaskRecord, 'payload'> {
  return state;
}

function finished(record: TaskRecord, outcome: Terminal, now: number): TaskRecord {
  const next: TaskRecord = { ...record, status: outcome.status, finishedAt: now };
  if (outcome.value !== undefined) next.value = outcome.value;
  if (outcome.error !== undefined) next.error = outcome.error;
  return next;
}

/** After each command (all awaited: every write committed), each task reads back as the model has it, committed or not. */
function checkReads(model: Model, real: Real): void {
  for (const task of model.tasks.values()) {
    expect(real.store.get(task.id)).toEqual(task);
    expect(real.store.getCommittedState(task.id)).toEqual(withoutPayload(task));
  }
}

class InsertCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly tasks: ReadonlyArray<{ type: string; priority: Priority; payload: unknown }>) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    // All issued in one turn: they share one lmdb-js transaction.
    const writes = this.tasks.map(({ type, priority, payload }) => {
      const [record, entry] = newTask(real.store, type, priority, payload, ++model.clock);
      model.tasks.set(record.id, record);
      return real.store.insert(record, entry);
    });
    await Promise.all(writes);
    checkReads(model, real);
  }
  toString = (): string => `insert(${this.tasks.map((t) => `${t.type}/${t.priority}`).join(', ')})`;
}

class StartCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number, readonly device: string | undefined) {}
  check = (model: Readonly<Model>): boolean => pick(model as Model, 'queued', this.index) !== undefined;
  async run(model: Model, real: Real): Promise<void> {
    const task = pick(model, 'queued', this.index)!;
    const startedAt = ++model.clock;
    const expected: TaskRecord = { ...task, status: 'running', startedAt, attempts: (task.attempts ?? 0) + 1 };
    if (this.device !== undefined) expected.device = this.device;
    model.tasks.set(task.id, expected);
    const fields = this.device === undefined ? { startedAt } : { startedAt, device: this.device };
    expect(await real.store.markRunning(task.id, fields)).toEqual(expected);
    checkReads(model, real);
  }
  toString = (): string => `start(${this.index}, ${this.device})`;
}

class FinishCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly from: 'queued' | 'running', readonly index: number, readonly outcome: Terminal) {}
  check = (model: Readonly<Model>): boolean => pick(model as Model, this.from, this.index) !== undefined;
  async run(model: Model, real: Real): Promise<void> {
    const task = pick(model, this.from, this.index)!;
    const now = ++model.clock;
    const expected = finished(task, this.outcome, now);
    model.tasks.set(task.id, expected);
    expect(await real.store.finish(task.id, { ...this.outcome, finishedAt: now })).toEqual(withoutPayload(expected));
    checkReads(model, real);
  }
  toString = (): string => `finish(${this.from}#${this.index} → ${this.outcome.status})`;
}

/** Start and finish issued in the same turn, without waiting for the first commit. */
class PipelineCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number, readonly outcome: Terminal) {}
  check = (model: Readonly<Model>): boolean => pick(model as Model, 'queued', this.index) !== undefined;
  async run(model: Model, real: Real): Promise<void> {
    const task = pick(model, 'queued', this.index)!;
    const startedAt = ++model.clock;
    const finishedAt = ++model.clock;
    const expected = finished({ ...task, status: 'running', startedAt, attempts: (task.attempts ?? 0) + 1 }, this.outcome, finishedAt);
    model.tasks.set(task.id, expected);
    const [, done] = await Promise.all([
      real.store.markRunning(task.id, { startedAt }),
      real.store.finish(task.id, { ...this.outcome, finishedAt }),
    ]);
    expect(done).toEqual(withoutPayload(expected));
    checkReads(model, real);
  }
  toString = (): string => `pipeline(${this.index} → ${this.outcome.status})`;
}

const plain = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.record({ text: fc.string({ maxLength: 20 }), tokens: fc.nat() }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }),
);
const outcome: fc.Arbitrary<Terminal> = fc.oneof(
  fc.record({ status: fc.constant('succeeded' as const), value: plain }),
  fc.record({ status: fc.constant('failed' as const), error: fc.record({ code: fc.constantFrom('HANDLER_ERROR', 'WORKER_CRASHED'), message: fc.string({ maxLength: 20 }) }) }),
  fc.constant({ status: 'cancelled' as const }),
);
const taskSpec = fc.record({ type: fc.constantFrom(...TYPES), priority: fc.constantFrom(...PRIORITIES), payload: plain });

const commands = fc.commands(
  [
    fc.array(taskSpec, { minLength: 1, maxLength: 6 }).map((tasks) => new InsertCommand(tasks)),
    fc.tuple(fc.nat(), fc.option(fc.constantFrom('gpu0', 'gpu1'), { nil: undefined })).map(([i, d]) => new StartCommand(i, d)),
    fc.tuple(fc.constantFrom('queued' as const, 'running' as const), fc.nat(), outcome).map(([from, i, o]) => new FinishCommand(from, i, o)),
    fc.tuple(fc.nat(), outcome).map(([i, o]) => new PipelineCommand(i, o)),
  ],
  { maxCommands: 30 },
);

const byQueueOrder = (a: TaskRecord, b: TaskRecord): number =>
  a.type < b.type ? -1 : a.type > b.type ? 1 : PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || a.seq - b.seq;

it('close + reopen + recover yields exactly the committed state', async () => {
  await fc.assert(
    fc.asyncProperty(commands, async (cmds) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-store-'));
      let store = TaskStore.open({ dir });
      try {
        const model: Model = { tasks: new Map(), clock: 0 };
        const real: Real = { store };
        await fc.asyncModelRun(() => ({ model, real }), cmds);

        await store.close();
        store = TaskStore.open({ dir });
        const now = model.clock + 1;
        const { queued, interrupted } = await store.recover(now);

        const all = [...model.tasks.values()];
        const expectedQueue = all.filter((t) => t.status === 'queued').sort(byQueueOrder);
        expect(queued.map((e) => e.id)).toEqual(expectedQueue.map((t) => t.id));
        expect(queued).toEqual(expectedQueue.map(({ id, type, seq, priority, queuedAt }) => ({ id, type, seq, priority, queuedAt, vramMiB: 0 })));
        const wasRunning = all.filter((t) => t.status === 'running');
        expect([...interrupted].sort()).toEqual(wasRunning.map((t) => t.id).sort());
        for (const task of all) {
          const expected: TaskRecord =
            task.status === 'running'
              ? { ...task, status: 'failed', finishedAt: now, error: { code: 'INTERRUPTED', message: 'interrupted by restart: the process stopped while this task ran' } }
              : task;
          expect(store.get(task.id)).toEqual(expected);
        }
        // Every inserted task is stored exactly once, and nothing else is.
        const counts = store.counts();
        expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(all.length);
        expect(counts.running).toBe(0);
        expect(store.nextSeq()).toBeGreaterThan(Math.max(0, ...all.map((t) => t.seq)));
      } finally {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: runs(50) },
  );
});
