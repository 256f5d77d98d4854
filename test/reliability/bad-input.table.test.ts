/**
 * The bad-input table (Promise 8, and 7's "writes nothing"): every public call with arguments
 * of the wrong type or out of range, strange type names, a closed scheduler, and data
 * directories that are corrupted, foreign or cannot be written. Each row must fail at the call,
 * through the returned promise (never a synchronous throw), with a SchedulerError whose `code`
 * is the one in the row; submits that fail write nothing.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduler, SchedulerError, type Scheduler, type SchedulerOptions } from 'vram-scheduler';
import { TaskStore } from '../../dist/store/task-store.js';
import { fixture, silent, tempDir } from '../support/scheduler.js';

const echo = fixture('echo-handler.mjs');

/** Calls `call`, checks it returned a promise rather than throwing, and that the promise rejects with a SchedulerError of `code`. */
async function rejectsWith(call: () => unknown, code: string): Promise<SchedulerError> {
  let returned: unknown;
  expect(() => (returned = call()), 'fails through the promise, not by a synchronous throw').not.toThrow();
  expect(returned).toBeInstanceOf(Promise);
  const error = await (returned as Promise<unknown>).then(
    (value) => {
      throw new Error(`expected a rejection with ${code}, got ${JSON.stringify(value)}`);
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(SchedulerError);
  expect(error).toMatchObject({ code });
  return error as SchedulerError;
}

const base = (dataDir: string): SchedulerOptions => ({ dataDir, logger: silent, devices: [{ id: 'gpu0', vramGb: 24 }], types: { echo: { handler: echo, vramGb: 2 } } });

type OptionsRow = [string, (dataDir: string) => unknown];

const badOptions: OptionsRow[] = [
  ['no options', () => undefined],
  ['null', () => null],
  ['a number', () => 42],
  ['a string', () => 'echo'],
  ['an array', () => []],
  ['an unknown option', (d) => ({ ...base(d), retries: 3 })],
  ['types missing', (d) => ({ dataDir: d, logger: silent })],
  ['no types', (d) => ({ ...base(d), types: {} })],
  ['types as an array', (d) => ({ ...base(d), types: [] })],
  ['type name ../x', (d) => ({ ...base(d), types: { '../x': { handler: echo, vramGb: 1 } } })],
  ['type name a/b', (d) => ({ ...base(d), types: { 'a/b': { handler: echo, vramGb: 1 } } })],
  ['type name ..', (d) => ({ ...base(d), types: { '..': { handler: echo, vramGb: 1 } } })],
  ['an empty type name', (d) => ({ ...base(d), types: { '': { handler: echo, vramGb: 1 } } })],
  ['a blank type name', (d) => ({ ...base(d), types: { ' ': { handler: echo, vramGb: 1 } } })],
  ['a unicode type name', (d) => ({ ...base(d), types: { 'モデル': { handler: echo, vramGb: 1 } } })],
  ['an emoji type name', (d) => ({ ...base(d), types: { 'llm🚀': { handler: echo, vramGb: 1 } } })],
  // Names that would escape a directory if a type name ever became a path, or look like a safe one.
  ...([
    ['an absolute path', '/etc/passwd'],
    ['a Windows path', 'C:\\x'],
    ['..\\x', '..\\x'],
    ['a NUL byte', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['a trailing newline', 'a\n'],
    ['fullwidth ．．／x', '\uff0e\uff0e\uff0fx'],
    ['one-dot leaders ․․/x', '\u2024\u2024/x'],
    ['a division slash a∕b', 'a\u2215b'],
    ['a right-to-left override', 'a\u202eb'],
    ['a zero-width space', 'a\u200bb'],
    ['a Cyrillic homoglyph of "abc"', '\u0430bc'],
    ['percent-encoded ../x', '%2e%2e%2fx'],
  ] as const).map(([label, name]): OptionsRow => [`type name with ${label}`, (d) => ({ ...base(d), types: { [name]: { handler: echo, vramGb: 1 } } })]),
  ['type name __proto__', (d) => ({ ...base(d), types: JSON.parse('{"__proto__": {"handler": "x", "vramGb": 1}}') as Record<string, never> })],
  ['a 65-character type name', (d) => ({ ...base(d), types: { ['x'.repeat(65)]: { handler: echo, vramGb: 1 } } })],
  ['a type that is not an object', (d) => ({ ...base(d), types: { echo: 'echo-handler.mjs' } })],
  ['a type without handler', (d) => ({ ...base(d), types: { echo: { vramGb: 1 } } })],
  ['a handler that does not exist', (d) => ({ ...base(d), types: { echo: { handler: '/nonexistent/handler.mjs', vramGb: 1 } } })],
  ['a handler over https', (d) => ({ ...base(d), types: { echo: { handler: 'https://example.com/h.mjs', vramGb: 1 } } })],
  ['a data: URL handler', (d) => ({ ...base(d), types: { echo: { handler: 'data:text/javascript,export default 1', vramGb: 1 } } })],
  ...([Number.NaN, -1, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '4', null, true] as unknown[]).map(
    (vramGb): OptionsRow => [`budget vramGb ${String(vramGb)} (${typeof vramGb})`, (d) => ({ ...base(d), types: { echo: { handler: echo, vramGb } } })],
  ),
  ...([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2', 257] as unknown[]).map(
    (concurrency): OptionsRow => [`concurrency ${String(concurrency)}`, (d) => ({ ...base(d), types: { echo: { handler: echo, vramGb: 1, concurrency } } })],
  ),
  ...([0, 15, 64.5, Number.NaN, Number.POSITIVE_INFINITY, '64'] as unknown[]).map(
    (maxHeapMb): OptionsRow => [`maxHeapMb ${String(maxHeapMb)} (${typeof maxHeapMb})`, (d) => ({ ...base(d), types: { echo: { handler: echo, vramGb: 1, maxHeapMb } } })],
  ),
  ['maxHeapMb on a free-lane type', (d) => ({ ...base(d), types: { echo: { handler: echo, gpu: false, maxHeapMb: 64 } } })],
  ...([0, -1, 1.5, 65, Number.NaN, '2'] as unknown[]).map(
    (threads): OptionsRow => [`threads ${String(threads)} (${typeof threads})`, (d) => ({ ...base(d), types: { echo: { handler: echo, vramGb: 1, threads } } })],
  ),
  ['threads on a free-lane type', (d) => ({ ...base(d), types: { echo: { handler: echo, gpu: false, threads: 2 } } })],
  ['threads × concurrency past a board\'s seats', (d) => ({ ...base(d), types: { echo: { handler: echo, vramGb: 1, threads: 64, concurrency: 16 } } })],
  ['gpu "no"', (d) => ({ ...base(d), types: { echo: { handler: echo, gpu: 'no' } } })],
  ...([Number.NaN, -8, 0, Number.POSITIVE_INFINITY, '24'] as unknown[]).map(
    (vramGb): OptionsRow => [`device vramGb ${String(vramGb)} (${typeof vramGb})`, (d) => ({ ...base(d), devices: [{ id: 'gpu0', vramGb }] })],
  ),
  ['a device without id', (d) => ({ ...base(d), devices: [{ vramGb: 24 }] })],
  ['devices as an object', (d) => ({ ...base(d), devices: { gpu0: 24 } })],
  ...(['maxQueueDepth', 'freeLaneThreads'] as const).flatMap((key) =>
    ([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10'] as unknown[]).map((value): OptionsRow => [`${key} ${String(value)} (${typeof value})`, (d) => ({ ...base(d), [key]: value })]),
  ),
  ...(['agingMs', 'starvationMs', 'quantumMs'] as const).flatMap((key) =>
    ([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '100'] as unknown[]).map((value): OptionsRow => [`${key} ${String(value)}`, (d) => ({ ...base(d), [key]: value })]),
  ),
  ['priorityScheduling "yes"', (d) => ({ ...base(d), priorityScheduling: 'yes' })],
  ['an empty dataDir', (d) => ({ ...base(d), dataDir: '' })],
  ['a numeric dataDir', (d) => ({ ...base(d), dataDir: 42 })],
  ['a logger that is not one', (d) => ({ ...base(d), logger: { info: 1 } })],
  ...(['NaN', '-1', 'Infinity', '', '4GB', '0x10'] as const).map(
    (value): OptionsRow => [`env VRAM_BUDGET_ECHO=${JSON.stringify(value)}`, (d) => ({ ...base(d), env: { VRAM_BUDGET_ECHO: value } })],
  ),
  ['a config file that does not exist', (d) => ({ ...base(d), configFile: join(d, 'missing.yaml') })],
];

describe('createScheduler: bad options → INVALID_OPTIONS, nothing created', () => {
  it.each(badOptions)('%s', async (_label, build) => {
    const dataDir = join(tempDir('vs-badopt-'), 'never-created');
    await rejectsWith(() => createScheduler(build(dataDir) as SchedulerOptions), 'INVALID_OPTIONS');
    expect(existsSync(dataDir), 'no data directory was created').toBe(false);
  });
});

type StoreRow = [string, () => string];

const badDirectories: StoreRow[] = [
  [
    'a data.mdb that is not LMDB (random bytes)',
    () => {
      const dir = tempDir('vs-corrupt-');
      writeFileSync(join(dir, 'data.mdb'), Buffer.from(Array.from({ length: 16_384 }, (_, i) => (i * 7919) % 251)));
      return dir;
    },
  ],
  [
    'a data.mdb of zeros',
    () => {
      const dir = tempDir('vs-zeros-');
      writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(16_384));
      return dir;
    },
  ],
  [
    'a data.mdb cut short after a valid-looking header',
    () => {
      const dir = tempDir('vs-short-');
      const header = Buffer.alloc(64);
      header.writeUInt16LE(0x08, 18);
      header.writeUInt32LE(0xbeefc0de, 24);
      header.writeUInt32LE(2, 28);
      header.writeUInt32LE(4096, 48);
      writeFileSync(join(dir, 'data.mdb'), header);
      return dir;
    },
  ],
  [
    'a data.mdb that is a directory',
    () => {
      const dir = tempDir('vs-mdbdir-');
      mkdirSync(join(dir, 'data.mdb'));
      return dir;
    },
  ],
  [
    'a dataDir that is a file',
    () => {
      const file = join(tempDir('vs-file-'), 'file');
      writeFileSync(file, 'not a directory');
      return file;
    },
  ],
  [
    'a dataDir under a file',
    () => {
      const file = join(tempDir('vs-under-'), 'file');
      writeFileSync(file, 'not a directory');
      return join(file, 'store');
    },
  ],
  [
    'a dataDir that cannot be written',
    () => {
      // chmod does not stop root: then use sysfs, where nobody may create a directory. (Not procfs: there Node's
      // recursive mkdirSync spins forever, see the report on createScheduler hanging for a dataDir under /proc.)
      if (process.getuid?.() === 0) return '/sys/vram-scheduler-test/store';
      const dir = tempDir('vs-readonly-');
      chmodSync(dir, 0o500);
      return join(dir, 'store');
    },
  ],
];

describe('createScheduler: a data directory that cannot be used → STORE_ERROR', () => {
  it.each(badDirectories)('%s', async (_label, prepare) => {
    const error = await rejectsWith(() => createScheduler(base(prepare())), 'STORE_ERROR');
    expect(error.message).toMatch(/task store at/);
  });

  it('a data directory already open in this process', async () => {
    const dataDir = tempDir('vs-twice-');
    const first = await createScheduler(base(dataDir));
    try {
      await rejectsWith(() => createScheduler(base(dataDir)), 'STORE_ERROR');
    } finally {
      await first.close();
    }
  });
});

describe('calls on an open scheduler', () => {
  let dataDir: string;
  let s: Scheduler;
  beforeAll(async () => {
    dataDir = tempDir('vs-badcalls-');
    s = await createScheduler(base(dataDir));
  });
  afterAll(async () => {
    await s.close();
  });

  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const submits: [string, unknown[], string][] = [
    ['an unknown type', ['ecoh', {}], 'UNKNOWN_TYPE'],
    ['type ../x', ['../x', {}], 'UNKNOWN_TYPE'],
    ['type ../../etc/passwd', ['../../etc/passwd', {}], 'UNKNOWN_TYPE'],
    ['type /etc/passwd', ['/etc/passwd', {}], 'UNKNOWN_TYPE'],
    ['an empty type', ['', {}], 'UNKNOWN_TYPE'],
    ['a unicode type', ['モデル', {}], 'UNKNOWN_TYPE'],
    ['type __proto__', ['__proto__', {}], 'UNKNOWN_TYPE'],
    ['type constructor', ['constructor', {}], 'UNKNOWN_TYPE'],
    ['a numeric type', [42, {}], 'UNKNOWN_TYPE'],
    ['an undefined type', [undefined, {}], 'UNKNOWN_TYPE'],
    ['a null type', [null, {}], 'UNKNOWN_TYPE'],
    ['an object as type', [{ type: 'echo' }, {}], 'UNKNOWN_TYPE'],
    ['a symbol as type', [Symbol('echo'), {}], 'UNKNOWN_TYPE'],
    ['a function payload', ['echo', () => 1], 'INVALID_PAYLOAD'],
    ['a payload holding a function', ['echo', { f: () => 1 }], 'INVALID_PAYLOAD'],
    ['a payload holding a symbol', ['echo', { s: Symbol('x') }], 'INVALID_PAYLOAD'],
    ['a payload holding a WeakMap', ['echo', { w: new WeakMap() }], 'INVALID_PAYLOAD'],
    ['a Proxy payload', ['echo', new Proxy({}, {})], 'INVALID_PAYLOAD'],
    ['a cyclic payload', ['echo', cycle], 'INVALID_PAYLOAD'],
    ['options that are a number', ['echo', {}, 42], 'INVALID_OPTIONS'],
    ['options that are a string', ['echo', {}, 'high'], 'INVALID_OPTIONS'],
    ['options that are null', ['echo', {}, null], 'INVALID_OPTIONS'],
    ['options that are an array', ['echo', {}, []], 'INVALID_OPTIONS'],
    ['an unknown option', ['echo', {}, { retries: 3 }], 'INVALID_OPTIONS'],
    ['priority "urgent"', ['echo', {}, { priority: 'urgent' }], 'INVALID_OPTIONS'],
    ['priority 0', ['echo', {}, { priority: 0 }], 'INVALID_OPTIONS'],
    ['priority "HIGH"', ['echo', {}, { priority: 'HIGH' }], 'INVALID_OPTIONS'],
    ...([Number.NaN, -1, 0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '4', null, 4n] as unknown[]).map(
      (vramGb): [string, unknown[], string] => [`vramGb ${String(vramGb)} (${typeof vramGb})`, ['echo', {}, { vramGb }], 'INVALID_OPTIONS'],
    ),
    ['vramGb larger than every device', ['echo', {}, { vramGb: 25 }], 'BUDGET_EXCEEDS_DEVICES'],
    ['vramGb of the largest finite double', ['echo', {}, { vramGb: Number.MAX_VALUE }], 'BUDGET_EXCEEDS_DEVICES'],
    ['an empty key', ['echo', {}, { key: '' }], 'INVALID_OPTIONS'],
    ['a numeric key', ['echo', {}, { key: 42 }], 'INVALID_OPTIONS'],
    ['a 513-character key', ['echo', {}, { key: 'k'.repeat(513) }], 'INVALID_OPTIONS'],
    ...([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '100'] as unknown[]).map(
      (timeoutMs): [string, unknown[], string] => [`timeoutMs ${String(timeoutMs)} (${typeof timeoutMs})`, ['echo', {}, { timeoutMs }], 'INVALID_OPTIONS'],
    ),
    ['a signal that is not an AbortSignal', ['echo', {}, { signal: { aborted: false } }], 'INVALID_OPTIONS'],
  ];

  it.each(submits)('submit with %s', async (_label, args, code) => {
    await rejectsWith(() => (s.submit as (...a: unknown[]) => Promise<unknown>)(...args), code);
  });

  it.each(submits.filter(([, , code]) => code !== 'BUDGET_EXCEEDS_DEVICES').slice(0, 6))('run with %s', async (_label, args, code) => {
    await rejectsWith(() => (s.run as (...a: unknown[]) => Promise<unknown>)(...args), code);
  });

  const badIds: [string, unknown][] = [
    ['an unknown id', 'nope'],
    ['an empty id', ''],
    ['a path as id', '../tasks'],
    ['a numeric id', 42],
    ['an undefined id', undefined],
    ['a null id', null],
    ['an object as id', { id: 'x' }],
    ['a symbol as id', Symbol('id')],
  ];
  const idCalls = ['wait', 'result', 'get', 'cancel'] as const;
  it.each(idCalls.flatMap((call) => badIds.map(([label, id]) => [call, label, id] as const)))('%s with %s → TASK_NOT_FOUND', async (call, _label, id) => {
    await rejectsWith(() => (s[call] as (id: unknown) => Promise<unknown>).call(s, id), 'TASK_NOT_FOUND');
  });

  const badTypes: unknown[] = ['ecoh', '../x', '', 'モデル', '__proto__', 42, null];
  it.each((['clear', 'peek'] as const).flatMap((call) => badTypes.map((type) => [call, type] as const)))('%s(%j) → UNKNOWN_TYPE', async (call, type) => {
    await rejectsWith(() => (s[call] as (type: unknown) => Promise<unknown>).call(s, type), 'UNKNOWN_TYPE');
  });

  it('every refused submit above wrote nothing', async () => {
    await s.close();
    const store = TaskStore.open({ dir: dataDir });
    try {
      expect(store.counts()).toEqual({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
    } finally {
      await store.close();
    }
  });
});

describe('calls on a closed scheduler → SCHEDULER_CLOSED', () => {
  let s: Scheduler;
  let id: string;
  beforeAll(async () => {
    s = await createScheduler(base(tempDir('vs-closed-')));
    ({ id } = await s.submit('echo', {}));
    await s.close();
  });

  const calls: [string, (s: Scheduler, id: string) => unknown][] = [
    ['submit', (sc) => sc.submit('echo', {})],
    ['submit of an unknown type', (sc) => sc.submit('ecoh', {})],
    ['run', (sc) => sc.run('echo', {})],
    ['wait', (sc, i) => sc.wait(i)],
    ['result', (sc, i) => sc.result(i)],
    ['get', (sc, i) => sc.get(i)],
    ['cancel', (sc, i) => sc.cancel(i)],
    ['clear', (sc) => sc.clear()],
    ['clear(type)', (sc) => sc.clear('echo')],
    ['peek', (sc) => sc.peek()],
  ];
  it.each(calls)('%s', async (_label, call) => {
    await rejectsWith(() => call(s, id), 'SCHEDULER_CLOSED');
  });

  it('close() again resolves, drain() resolves, snapshot() says stopped', async () => {
    await s.close();
    await s.drain();
    expect(s.snapshot().state).toBe('stopped');
  });
});
