/**
 * The durable truth: task states, their payloads and the ordered queue index in one LMDB
 * environment. A payload is written once, at insert, apart from its task's state, so the
 * state changes that follow (running, outcome) never re-encode it; get() puts the two together.
 *
 * Every state change is a few plain `put`/`remove` calls made in one synchronous block.
 * lmdb-js batches all writes of one event-loop turn into one transaction, so a record and
 * its index entries always commit together, and thousands of submits share one fsync.
 * Each method's promise resolves when that transaction is committed and flushed to disk: with
 * lmdb-js's overlapping sync (its default on Linux) a write resolves at commit and its flush
 * comes after, so the store asks for the flush apart (`separateFlushed`) and waits for it too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import { InvalidPayloadError, StoreError, TaskNotFoundError, expected } from '../errors.js';
import { isTerminal, type QueueEntry, type TaskError, type TaskRecord, type TaskStatus } from '../task.js';
import { withChanges } from '../with-changes.js';
import { checkDataFile, describe, openError, prepareDirectory, RESTORE_FIX } from './data-dir.js';
import { DURABLE_WRITES, flushed, indexFinished, queueEntryOf, queueKey, separatePayloads, SHARED_STRUCTURES, type FinishedKey, type QueueKey } from './layout.js';

export interface TaskStoreOptions {
  /** Data directory; created with mode 0700 when missing. */
  dir: string;
}

/** A task's state as stored: its payload is kept apart (written once at insert, never re-encoded by a state change). */
export type TaskState = Omit<TaskRecord, 'payload'>;

/** What another process may do with a store it does not own: read committed state, never write. */
export type TaskStoreReader = Pick<TaskStore, 'dir' | 'getCommitted' | 'counts' | 'queued' | 'running' | 'ended' | 'close'>;

export interface FinishFields {
  status: 'succeeded' | 'failed' | 'cancelled';
  value?: unknown;
  error?: { code: string; message: string };
  finishedAt: number;
}

/**
 * Seqs the stored high-water mark reserves at a time: one meta write per this many inserts instead
 * of one each. A reopened store goes on after the whole block, so a restart leaves a gap in the
 * seqs (they order tasks; nothing counts them).
 */
const SEQ_BLOCK = 1024;

/**
 * Committed states of queued tasks kept in memory at most: a claim's and a wait's read of such a
 * task then skips LMDB and its decoding. Tasks inserted while this many are kept are read back
 * from LMDB as before (a deep queue costs no more memory).
 */
const QUEUED_STATES_KEPT = 4096;

const INTERRUPTED = { code: 'INTERRUPTED', message: 'interrupted by restart: the process stopped while this task ran' };
/** Directories open in this process: a second handle would hand out duplicate sequence numbers. */
const openDirs = new Set<string>();

export class TaskStore {
  readonly dir: string;
  readonly #root: RootDatabase;
  readonly #tasks: Database<TaskState, string>;
  /** id → payload; undefined in a read-only open of a store whose records still hold their payloads. */
  readonly #payloads: Database<unknown, string> | undefined;
  readonly #queue: Database<QueueEntry, QueueKey>;
  readonly #running: Database<true, string>;
  readonly #meta: Database<number, string>;
  /** undefined in a read-only open of a store written before the index existed. */
  readonly #finished: Database<true, FinishedKey> | undefined;
  /** Entries in the finished index, committed or in flight. */
  #finishedCount: number;
  /** Last number handed out by nextSeq(). */
  #seq: number;
  /** Highest seq written to meta, committed or in flight: inserts may commit out of seq order. */
  #persistedSeq: number;
  /** States written but not yet committed, so get() and the next state change see them (read-your-writes). */
  readonly #pending = new Map<string, TaskState>();
  /** Payloads of inserts not yet committed. */
  readonly #pendingPayloads = new Map<string, unknown>();
  /** States of running tasks (few: the threads' work), so ending one reads no record back from LMDB. */
  readonly #live = new Map<string, TaskState>();
  /** Committed states of queued tasks with no change in flight, up to QUEUED_STATES_KEPT. Never mutated: a change writes a new state. */
  readonly #queuedStates = new Map<string, TaskState>();
  #closed = false;

  private constructor(dir: string, root: RootDatabase, readOnly = false) {
    this.dir = dir;
    this.#root = root;
    this.#tasks = root.openDB<TaskState, string>('tasks', SHARED_STRUCTURES);
    this.#queue = root.openDB<QueueEntry, QueueKey>('queue', SHARED_STRUCTURES);
    this.#running = root.openDB<true, string>('running', {});
    this.#meta = root.openDB<number, string>('meta', {});
    if (!readOnly) indexFinished(root, this.#tasks, this.#meta);
    // A read-only open of an older store finds no finished index (nor its database).
    this.#finished = !readOnly || this.#meta.get('finishedIndex') === 1 ? root.openDB<true, FinishedKey>('finished', {}) : undefined;
    if (!readOnly) separatePayloads(root, this.#tasks, this.#meta);
    // A read-only open of an older store finds the payloads inside the records (and no payloads database).
    this.#payloads = !readOnly || this.#meta.get('payloadsApart') === 1 ? root.openDB<unknown, string>('payloads', SHARED_STRUCTURES) : undefined;
    this.#finishedCount = this.#finished === undefined ? 0 : (this.#finished.getStats() as { entryCount: number }).entryCount;
    const seq = this.#meta.get('seq') ?? 0;
    if (!Number.isSafeInteger(seq) || seq < 0) throw new Error(`meta.seq is ${String(seq)}, not a sequence number`);
    this.#seq = this.#persistedSeq = seq;
  }

  /** Opens (creating the directory 0700). Not an LMDB store, corrupted or unwritable → StoreError naming the path and the fix. */
  static open(options: TaskStoreOptions): TaskStore {
    if (typeof options?.dir !== 'string' || options.dir === '') throw expected('options.dir', 'a non-empty string', options?.dir);
    const dir = prepareDirectory(path.resolve(options.dir));
    if (openDirs.has(dir)) throw openError(dir, 'it is already open in this process', 'close the other TaskStore first');
    // lmdb-js 3.5 crashes the process (double free in its native error path) whenever
    // mdb_env_open fails, so what LMDB would refuse is checked here first.
    checkDataFile(dir);
    let root: RootDatabase | undefined;
    try {
      // noSubdir: false, or a directory named like `jobs.db` is taken for a file; files as private as the directory.
      const lmdbOptions: RootDatabaseOptionsWithPath & { permissionsMode: number } = { path: dir, noSubdir: false, maxDbs: 8, permissionsMode: 0o600, ...DURABLE_WRITES };
      root = open(lmdbOptions);
      const store = new TaskStore(dir, root);
      openDirs.add(dir);
      return store;
    } catch (cause) {
      void root?.close();
      throw openError(dir, `LMDB could not open it (${describe(cause)})`, RESTORE_FIX, cause);
    }
  }

  /**
   * Opens a store another process may be writing, read-only (LMDB readers never block the
   * writer, and see only committed transactions). Creates nothing; a missing or foreign
   * directory → StoreError naming the path.
   */
  static openReadOnly(options: TaskStoreOptions): TaskStoreReader {
    if (typeof options?.dir !== 'string' || options.dir === '') throw expected('options.dir', 'a non-empty string', options?.dir);
    const dir = path.resolve(options.dir);
    if (!fs.existsSync(path.join(dir, 'data.mdb'))) throw openError(dir, 'it holds no task store (no data.mdb)', 'pass the dataDir the scheduler uses');
    checkDataFile(dir);
    let root: RootDatabase | undefined;
    try {
      root = open({ path: dir, noSubdir: false, maxDbs: 8, readOnly: true });
      return new TaskStore(dir, root, true);
    } catch (cause) {
      void root?.close();
      throw openError(dir, `LMDB could not open it read-only (${describe(cause)})`, RESTORE_FIX, cause);
    }
  }

  /** Next acknowledgement number: monotonic across restarts (persisted by insert). */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** Writes a new queued task and its index entry; resolves once committed. */
  insert(record: TaskRecord, entry: QueueEntry): Promise<void> {
    if (this.#closed) return this.#rejectClosed('insert');
    const problem = this.#newTaskProblem(record, entry);
    if (problem !== undefined) return Promise.reject(problem);
    const key = queueKey(record);
    const { payload, ...state } = record;
    try {
      this.#queue.put(key, entry); // may throw (key too long): nothing written yet
      try {
        this.#payloads!.put(record.id, payload); // may throw (payload msgpack cannot encode)
      } catch (error) {
        this.#queue.remove(key); // same turn, same transaction: cancels the index entry
        throw error;
      }
    } catch (cause) {
      return Promise.reject(new InvalidPayloadError(record.type, cause));
    }
    return this.#settleNew(state, payload, this.#tasks.put(record.id, state), () => {
      if (this.#queuedStates.size < QUEUED_STATES_KEPT && !this.#pending.has(record.id)) this.#queuedStates.set(record.id, state);
    });
  }

  /**
   * Writes a new task as already running (its insert and its start in one transaction), for a
   * task that can start the moment it is stored. Resolves the running record once committed.
   */
  insertRunning(record: TaskRecord, entry: QueueEntry, fields: { startedAt: number; device?: string }): Promise<TaskRecord> {
    if (this.#closed) return this.#rejectClosed('insertRunning');
    const problem = this.#newTaskProblem(record, entry);
    if (problem !== undefined) return Promise.reject(problem);
    const { payload, ...queued } = record;
    try {
      this.#payloads!.put(record.id, payload); // may throw (payload msgpack cannot encode): nothing written yet
    } catch (cause) {
      return Promise.reject(new InvalidPayloadError(record.type, cause));
    }
    const state: TaskState = withChanges(queued, { status: 'running' as const, startedAt: fields.startedAt, attempts: 1 });
    if (fields.device !== undefined) state.device = fields.device;
    this.#running.put(record.id, true);
    this.#live.set(record.id, state);
    return this.#settleNew(state, payload, this.#tasks.put(record.id, state), () => withChanges(state, { payload }));
  }

  /** Why a new task cannot be inserted, if it cannot. */
  #newTaskProblem(record: TaskRecord, entry: QueueEntry): StoreError | undefined {
    const { id } = record;
    // Later changes derive the index key from the record, so the two must agree.
    const problem =
      entry.id !== id || entry.type !== record.type || entry.priority !== record.priority || entry.seq !== record.seq
        ? 'its queue entry does not match the record (id, type, priority, seq)'
        : record.status !== 'queued'
          ? `new tasks are queued, not ${record.status}`
          : this.#pending.has(id) || this.#tasks.doesExist(id)
            ? 'the id already exists: ids must be unique'
            : undefined;
    return problem === undefined ? undefined : new StoreError(`Cannot insert task ${JSON.stringify(id)}: ${problem}`);
  }

  /** The rest of a new task's transaction: its seq, and its payload visible until committed. */
  #settleNew<T>(state: TaskState, payload: unknown, done: Promise<boolean>, resolved: () => T): Promise<T> {
    const { id } = state;
    // In the new task's transaction: a block of seqs at once, so one insert in SEQ_BLOCK writes it.
    if (state.seq > this.#persistedSeq) this.#meta.put('seq', (this.#persistedSeq = state.seq + SEQ_BLOCK - 1));
    this.#pendingPayloads.set(id, payload);
    return this.#settle(state, done, resolved, () => void this.#pendingPayloads.delete(id));
  }

  /** queued → running: one transaction moves the task from the queue index to `running`. Resolves the record with its payload, for the run. */
  markRunning(id: string, fields: { startedAt: number; device?: string }): Promise<TaskRecord> {
    if (this.#closed) return this.#rejectClosed('markRunning');
    const current = this.#state(id);
    if (current === undefined) return Promise.reject(new TaskNotFoundError(id));
    if (current.status !== 'queued') return Promise.reject(new StoreError(`Cannot start task ${JSON.stringify(id)}: it is ${current.status}, not queued`));
    const next: TaskState = withChanges(current, { status: 'running' as const, startedAt: fields.startedAt, attempts: (current.attempts ?? 0) + 1 });
    if (fields.device !== undefined) next.device = fields.device;
    const done = this.#tasks.put(id, next);
    this.#queue.remove(queueKey(current));
    this.#running.put(id, true);
    this.#queuedStates.delete(id);
    this.#live.set(id, next);
    return this.#settle(next, done, (state) => this.#withPayload(state));
  }

  /**
   * running → queued again, at its original place in line: one transaction. A retry records
   * `lastError`; a preemption does not count as an attempt and keeps the handler's checkpoint.
   */
  requeue(id: string, fields: { lastError: TaskError } | { preempted: { checkpoint: { state: unknown } | undefined } }): Promise<QueueEntry> {
    if (this.#closed) return this.#rejectClosed('requeue');
    const current = this.#state(id);
    if (current === undefined) return Promise.reject(new TaskNotFoundError(id));
    if (current.status !== 'running') return Promise.reject(new StoreError(`Cannot requeue task ${JSON.stringify(id)}: it is ${current.status}, not running`));
    const next: TaskState = { ...current, status: 'queued' };
    if ('lastError' in fields) next.lastError = fields.lastError;
    else {
      next.attempts = (current.attempts ?? 1) - 1;
      next.preemptions = (current.preemptions ?? 0) + 1;
      if (fields.preempted.checkpoint !== undefined) next.checkpoint = fields.preempted.checkpoint.state;
    }
    const entry = queueEntryOf(next);
    let done: Promise<boolean>;
    try {
      done = this.#tasks.put(id, next); // first: only a checkpoint can fail to encode
    } catch (cause) {
      return Promise.reject(new StoreError(`Cannot store the checkpoint of task ${JSON.stringify(id)} (${describe(cause)}): checkpoint plain data`, { cause }));
    }
    this.#queue.put(queueKey(next), entry);
    this.#running.remove(id);
    this.#live.delete(id);
    return this.#settle(next, done, () => entry);
  }

  /** queued | running → terminal, dropping its index entry in the same transaction. Returns the updated state (no payload). */
  finish(id: string, fields: FinishFields): Promise<TaskState> {
    if (this.#closed) return this.#rejectClosed('finish');
    const current = this.#state(id);
    if (current === undefined) return Promise.reject(new TaskNotFoundError(id));
    if (isTerminal(current.status)) return Promise.reject(new StoreError(`Cannot finish task ${JSON.stringify(id)}: it already ended (${current.status})`));
    const next: TaskState = withChanges(current, { status: fields.status, finishedAt: fields.finishedAt });
    if (fields.value !== undefined) next.value = fields.value;
    if (fields.error !== undefined) next.error = { code: fields.error.code, message: fields.error.message };
    let done: Promise<boolean>;
    try {
      done = this.#tasks.put(id, next); // first: only the result value can fail to encode
    } catch (cause) {
      return Promise.reject(new StoreError(`Cannot store the result of task ${JSON.stringify(id)} (${describe(cause)}): return plain data`, { cause }));
    }
    if (current.status === 'queued') {
      this.#queue.remove(queueKey(current));
      this.#queuedStates.delete(id);
    } else {
      this.#running.remove(id);
      this.#live.delete(id);
    }
    this.#addFinished(next);
    return this.#settle(next, done);
  }

  /** What a reader outside may see: only committed state, so a result read is a result that survives a crash. */
  getCommitted(id: string): TaskRecord | undefined {
    const state = this.getCommittedState(id);
    return state && this.#withPayload(state);
  }

  /** getCommitted without the payload: for status and result reads. */
  getCommittedState(id: string): TaskState | undefined {
    if (this.#closed) throw new StoreError(`Cannot read task ${JSON.stringify(id)}: the task store at ${this.dir} is closed`);
    return this.#queuedStates.get(id) ?? this.#tasks.get(id);
  }

  /** Synchronous read; sees this store's own writes before they commit. */
  get(id: string): TaskRecord | undefined {
    const state = this.getState(id);
    return state && this.#withPayload(state);
  }

  /** get without the payload (for the next state change). Treat it as read-only. */
  getState(id: string): TaskState | undefined {
    if (this.#closed) throw new StoreError(`Cannot read task ${JSON.stringify(id)}: the task store at ${this.dir} is closed`);
    return this.#state(id);
  }

  /**
   * Startup recovery: running tasks become failed INTERRUPTED, or queued again at their place
   * in line where `requeue(record)` says so (idempotent types); one transaction, awaited.
   * Returns the queue in index order.
   */
  async recover(now: number, requeue: (record: TaskState) => boolean = () => false): Promise<{ queued: QueueEntry[]; interrupted: string[] }> {
    if (this.#closed) return this.#rejectClosed('recover');
    const interrupted: string[] = [];
    let done: Promise<boolean> | undefined;
    for (const id of Array.from(this.#running.getKeys())) {
      const record = this.#state(id);
      if (record?.status === 'running' && requeue(record)) {
        const next: TaskState = { ...record, status: 'queued', lastError: { ...INTERRUPTED } };
        done = this.#tasks.put(id, next);
        this.#queue.put(queueKey(next), queueEntryOf(next));
      } else if (record?.status === 'running') {
        const failed: TaskState = { ...record, status: 'failed', error: { ...INTERRUPTED }, finishedAt: now };
        done = this.#tasks.put(id, failed);
        this.#addFinished(failed);
        interrupted.push(id);
      }
      done = this.#running.remove(id);
    }
    if (done !== undefined) await flushed(done).catch((cause: unknown) => Promise.reject(this.#commitError(cause)));
    return { queued: this.queued(), interrupted };
  }

  /** Finished records kept (terminal tasks not yet pruned). */
  get finishedCount(): number {
    return this.#finishedCount;
  }

  /** When the oldest kept finished record ended, if any. */
  oldestFinishedAt(): number | undefined {
    for (const { key } of this.#finished?.getRange({ limit: 1 }) ?? []) return key[0];
    return undefined;
  }

  /**
   * Deletes up to `limit` finished records, oldest first: those that ended before
   * `endedBefore`, and the oldest beyond the newest `keep`. One transaction; resolves the
   * number deleted once committed.
   */
  async prune({ endedBefore, keep, limit }: { endedBefore: number; keep: number; limit: number }): Promise<number> {
    if (this.#closed) return this.#rejectClosed('prune');
    let deleted = 0;
    let done: Promise<boolean> | undefined;
    for (const { key } of this.#finished!.getRange({ limit })) {
      if (key[0] >= endedBefore && this.#finishedCount <= keep) break;
      this.#tasks.remove(key[1]);
      this.#payloads!.remove(key[1]);
      done = this.#finished!.remove(key);
      this.#finishedCount--;
      deleted++;
    }
    if (done !== undefined) await done.catch((cause: unknown) => Promise.reject(this.#commitError(cause)));
    return deleted;
  }

  /** Committed records per status. Scans every record: for tests and snapshots, not the hot path. */
  counts(): Record<TaskStatus, number> {
    if (this.#closed) throw new StoreError(`Cannot count tasks: the task store at ${this.dir} is closed`);
    const counts: Record<TaskStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const { value } of this.#tasks.getRange()) counts[value.status]++;
    return counts;
  }

  /** Committed queue index in dispatch order per type (type, then priority, then seq). */
  queued(): QueueEntry[] {
    return Array.from(this.#queue.getRange(), ({ value }) => value);
  }

  /** Committed states of running tasks. */
  running(): TaskState[] {
    return Array.from(this.#running.getKeys(), (id) => this.#tasks.get(id)).filter((r): r is TaskState => r !== undefined);
  }

  /** The `limit` committed records with `status` that finished last, newest first. Scans every record: for tools, not the hot path. */
  ended(status: 'succeeded' | 'failed' | 'cancelled', limit: number): TaskState[] {
    const found: TaskState[] = [];
    for (const { value } of this.#tasks.getRange()) if (value.status === status) found.push(value);
    return found.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0)).slice(0, limit);
  }

  /** Waits for writes in flight to commit, then closes the environment. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true; // first: an lmdb-js write after close throws from a setImmediate and kills the process
    try {
      await this.#root.close();
    } finally {
      openDirs.delete(this.dir);
      this.#pending.clear();
      this.#pendingPayloads.clear();
      this.#live.clear();
      this.#queuedStates.clear();
    }
  }

  #state(id: string): TaskState | undefined {
    return this.#pending.get(id) ?? this.#live.get(id) ?? this.#queuedStates.get(id) ?? this.#tasks.get(id);
  }

  /** The full record a user sees. Records of a store not yet separated still hold their payload. */
  #withPayload(state: TaskState): TaskRecord {
    if ('payload' in state) return state as TaskRecord;
    const { id } = state;
    const payload = this.#pendingPayloads.has(id) ? this.#pendingPayloads.get(id) : this.#payloads?.get(id);
    return withChanges(state, { payload });
  }

  #addFinished(record: TaskState): void {
    this.#finished!.put([record.finishedAt!, record.id], true);
    this.#finishedCount++;
  }

  /**
   * Keeps `record` visible as pending until `done` is flushed, then resolves `resolved(record)`
   * (the record itself without it); maps commit failures to StoreError. `settled` runs first
   * either way (a new task's payload stays visible until then).
   */
  #settle<R extends TaskState, T = R>(record: R, done: Promise<boolean>, resolved?: (record: R) => T, settled?: () => void): Promise<T> {
    this.#pending.set(record.id, record);
    const forget = (): void => {
      settled?.();
      if (this.#pending.get(record.id) === record) this.#pending.delete(record.id);
    };
    return flushed(done).then(
      () => (forget(), resolved ? resolved(record) : (record as unknown as T)),
      (cause: unknown) => {
        forget();
        // A start that did not commit leaves the task as it was stored.
        if (this.#live.get(record.id) === record) this.#live.delete(record.id);
        return Promise.reject(this.#commitError(cause));
      },
    );
  }

  #commitError(cause: unknown): StoreError {
    return new StoreError(`Commit to the task store at ${this.dir} failed (${describe(cause)}): check free disk space and that the directory is writable`, { cause });
  }

  #rejectClosed(call: string): Promise<never> {
    return Promise.reject(new StoreError(`Cannot ${call}: the task store at ${this.dir} is closed`));
  }
}
