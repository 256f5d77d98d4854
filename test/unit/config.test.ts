import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_GB, budgetEnvVar, gbToMiB, resolveConfig } from '../../src/config.js';
import { InvalidOptionsError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vram-config-'));
const HANDLER = path.join(dir, 'handler.mjs');
writeFileSync(HANDLER, 'export default {};\n');
mkdirSync(path.join(dir, 'a-directory.js'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A pino logger whose lines land in `lines` (parsed). */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40).map((l) => String(l.msg)) };
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Options with one budgeted GPU type, an empty env and a captured logger. */
function base(overrides: Record<string, unknown> = {}, log = capture()) {
  return { types: { cover_letter: { handler: HANDLER, vramGb: 4 } }, env: {}, logger: log.logger, ...overrides };
}

async function rejects(options: unknown, ...fragments: string[]): Promise<void> {
  const error = await resolveConfig(options).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidOptionsError);
  expect((error as InvalidOptionsError).code).toBe('INVALID_OPTIONS');
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

describe('resolveConfig: defaults and top level', () => {
  it('fills in every default and resolves the type', async () => {
    const log = capture();
    const config = await resolveConfig(base({}, log));
    expect(config).toMatchObject({ dataDir: path.resolve('.vram-scheduler'), maxQueueDepth: 500, serviceName: 'vram-scheduler', freeLaneThreads: os.availableParallelism() });
    expect(config.devices).toBeUndefined();
    expect(config.types.get('cover_letter')).toEqual({
      name: 'cover_letter', handlerUrl: pathToFileURL(HANDLER).href, gpu: true, vramMiB: 4096, budgetGb: 4, budgetSource: 'options', concurrency: 1, threads: 1, timeoutMs: 0,
      retries: 0, retryBackoffMs: 1000, idempotent: false, preemptible: false, keepAliveMs: 300_000, kvGbPer1kTokens: 0, ramGb: 0,
    });
    expect(config.scheduling).toEqual({ priorityScheduling: true, agingMs: 60_000, starvationMs: 120_000, quantumMs: 60_000, cancelGraceMs: 5_000, policy: 'queue', maxWaitMs: 0, preemption: false });
    expect(log.warnings()).toEqual([]);
  });

  it('rounds GB up to whole MiB', () => {
    expect(gbToMiB(9.9)).toBe(10138);
    expect(gbToMiB(0.001)).toBe(2);
    expect(budgetEnvVar('cover-letter.v2')).toBe('VRAM_BUDGET_COVER_LETTER_V2');
  });

  it.each([null, 'types', [], 42])('rejects options that are not an object: %j', async (options) => {
    await rejects(options, '`options`');
  });

  it('rejects an unknown top-level key, naming it and the valid ones', async () => {
    await rejects(base({ maxQueueDeph: 5 }), '`options.maxQueueDeph`', 'types, dataDir, devices, configFile, maxQueueDepth');
  });

  it.each([
    [{ priorityScheduling: 'yes' }, '`options.priorityScheduling`'],
    [{ agingMs: -1 }, '`options.agingMs`'],
    [{ starvationMs: 1.5 }, '`options.starvationMs`'],
    [{ quantumMs: Number.NaN }, '`options.quantumMs`'],
    [{ cancelGraceMs: '5s' }, '`options.cancelGraceMs`'],
  ])('rejects a bad scheduling option %j', async (extra, path) => {
    await rejects(base(extra), path);
  });

  it('takes explicit values and resolves dataDir against the cwd', async () => {
    const config = await resolveConfig(base({ dataDir: 'var/q', maxQueueDepth: 7, freeLaneThreads: 3, serviceName: 'svc' }));
    expect(config).toMatchObject({ dataDir: path.resolve(process.cwd(), 'var/q'), maxQueueDepth: 7, freeLaneThreads: 3, serviceName: 'svc' });
  });

  it.each([
    ['maxQueueDepth', 0], ['maxQueueDepth', -1], ['maxQueueDepth', 1.5], ['maxQueueDepth', 2 ** 53], ['maxQueueDepth', '10'],
    ['freeLaneThreads', 0], ['freeLaneThreads', 2.5], ['serviceName', ''], ['serviceName', 3], ['dataDir', ''], ['dataDir', null],
    ['env', 'PATH'], ['configFile', 42], ['configFile', 'scheduler.toml'],
  ])('rejects options.%s = %j', async (key, value) => {
    await rejects(base({ [key]: value }), `\`options.${key}\``);
  });

  it('rejects a non-string env value, naming the variable', async () => {
    await rejects(base({ env: { VRAM_BUDGET_COVER_LETTER: 9 } }), '`options.env.VRAM_BUDGET_COVER_LETTER`');
  });
});

describe('resolveConfig: types', () => {
  it.each([undefined, null, [], {}, 'cover_letter'])('rejects options.types = %j', async (types) => {
    await rejects(base({ types }), '`options.types`');
  });

  it.each(['', '-x', '_x', '.hidden', 'a/b', '../x', 'a..b', 'a b', 'x'.repeat(65), '__proto__'])('rejects the type name %j', async (name) => {
    await rejects(base({ types: { [name]: { handler: HANDLER, vramGb: 1 } } }), '`options.types`', 'type names');
  });

  it('accepts names up to 64 characters of [A-Za-z0-9_.-]', async () => {
    const names = ['a', 'Cover-letter.v2_1', 'x'.repeat(64)];
    const config = await resolveConfig(base({ types: Object.fromEntries(names.map((n) => [n, { handler: HANDLER, vramGb: 1 }])) }));
    expect([...config.types.keys()]).toEqual(names);
  });

  it('rejects two names that share a budget variable', async () => {
    await rejects(base({ types: { 'a-b': { handler: HANDLER, vramGb: 1 }, a_b: { handler: HANDLER, vramGb: 1 } } }), 'VRAM_BUDGET_A_B');
  });

  it.each([
    ['vramGb', 0], ['vramGb', -1], ['vramGb', Number.NaN], ['vramGb', Infinity], ['vramGb', '8'], ['vramGb', MAX_GB + 1],
    ['gpu', 'yes'], ['concurrency', 0], ['concurrency', 1.5], ['concurrency', 257], ['concurrency', '2'], ['vram', 4],
  ])('rejects types.cover_letter.%s = %j, naming the path', async (key, value) => {
    await rejects(base({ types: { cover_letter: { handler: HANDLER, [key]: value } } }), `\`options.types.cover_letter.${key}\``);
  });

  it('lists the valid keys of a type', async () => {
    await rejects(base({ types: { cover_letter: { handler: HANDLER, vram: 4 } } }), 'handler, vramGb, gpu, concurrency');
  });

  it('passes maxHeapMb through for a GPU type, and refuses it on a free-lane type, saying why', async () => {
    const config = await resolveConfig(base({ types: { t: { handler: HANDLER, vramGb: 1, maxHeapMb: 16 } } }));
    expect(config.types.get('t')).toMatchObject({ maxHeapMb: 16 });
    await rejects(base({ types: { t: { handler: HANDLER, maxHeapMb: 15 } } }), '`options.types.t.maxHeapMb`', '>= 16');
    await rejects(base({ types: { t: { handler: HANDLER, gpu: false, maxHeapMb: 64 } } }), '`options.types.t.maxHeapMb`', 'free-lane');
  });

  it('passes threads through for a GPU type; refuses it out of range, on a free-lane type, or past a board\'s seats, saying why', async () => {
    const config = await resolveConfig(base({ types: { t: { handler: HANDLER, vramGb: 1, threads: 4, concurrency: 255 }, cpu: { handler: HANDLER, gpu: false } } }));
    expect(config.types.get('t')).toMatchObject({ threads: 4, concurrency: 255 });
    expect(config.types.get('cpu')).toMatchObject({ threads: 1 });
    for (const threads of [0, 1.5, 65, '2']) await rejects(base({ types: { t: { handler: HANDLER, threads } } }), '`options.types.t.threads`', '<= 64');
    await rejects(base({ types: { t: { handler: HANDLER, gpu: false, threads: 2 } } }), '`options.types.t.threads`', 'freeLaneThreads');
    await rejects(base({ types: { t: { handler: HANDLER, threads: 4, concurrency: 256 } } }), '`options.types.t.threads`', 'at most 3 with concurrency 256');
  });

  it('accepts concurrency 256 and gpu false', async () => {
    const config = await resolveConfig(base({ types: { t: { handler: HANDLER, concurrency: 256, gpu: false } } }));
    expect(config.types.get('t')).toMatchObject({ concurrency: 256, gpu: false, vramMiB: 0, budgetSource: 'none' });
  });
});

describe('resolveConfig: handler', () => {
  it('takes an absolute path, a file URL string, a URL and a cwd-relative path to the same href', async () => {
    const href = pathToFileURL(HANDLER).href;
    for (const handler of [HANDLER, href, new URL(href), path.relative(process.cwd(), HANDLER)]) {
      const config = await resolveConfig(base({ types: { t: { handler, vramGb: 1 } } }));
      expect(config.types.get('t')?.handlerUrl).toBe(href);
    }
  });

  it.each([undefined, '', 42, 'https://example.com/h.js', new URL('https://example.com/h.js'), 'data:text/javascript,export default 1'])(
    'rejects handler %s',
    async (handler) => {
      await rejects(base({ types: { t: { handler, vramGb: 1 } } }), '`options.types.t.handler`');
    },
  );

  it('rejects a handler file that does not exist, naming the type and the resolved path', async () => {
    const missing = path.join(dir, 'hnadler.mjs');
    await rejects(base({ types: { t: { handler: path.relative(process.cwd(), missing), vramGb: 1 } } }), '`options.types.t.handler`', missing);
  });

  it('rejects a directory as handler', async () => {
    await rejects(base({ types: { t: { handler: path.join(dir, 'a-directory.js'), vramGb: 1 } } }), 'an existing module file');
  });
});

describe('resolveConfig: devices', () => {
  it('copies valid devices', async () => {
    const devices = [{ id: 'gpu0', vramGb: 24 }, { id: 'gpu1', vramGb: 0.5 }];
    const config = await resolveConfig(base({ devices }));
    expect(config.devices).toEqual(devices);
    expect(config.devices).not.toBe(devices);
  });

  it.each([
    [[], '`options.devices`'], [{ id: 'gpu0', vramGb: 8 }, '`options.devices`'], [[null], '`options.devices[0]`'],
    [[{ vramGb: 8 }], '`options.devices[0].id`'], [[{ id: '', vramGb: 8 }], '`options.devices[0].id`'],
    [[{ id: 'g', vramGb: 8 }, { id: 'g', vramGb: 8 }], '`options.devices[1].id`'], [[{ id: 'g', vramGb: 0 }], '`options.devices[0].vramGb`'],
    [[{ id: 'g', vramGb: Infinity }], '`options.devices[0].vramGb`'], [[{ id: 'g', vramGb: 8, mem: 1 }], '`options.devices[0].mem`'],
  ])('rejects devices %j', async (devices, fragment) => {
    await rejects(base({ devices }), fragment);
  });
});

describe('resolveConfig: budgets from options, config file and env', () => {
  const yaml = () => file('budgets.yaml', 'scheduler:\n  vram_budgets:\n    cover_letter: 6\n');

  it('env beats the config file, which beats options', async () => {
    const both = await resolveConfig(base({ configFile: yaml(), env: { VRAM_BUDGET_COVER_LETTER: '9.9' } }));
    expect(both.types.get('cover_letter')).toMatchObject({ budgetGb: 9.9, vramMiB: 10138, budgetSource: 'env' });
    const fileOnly = await resolveConfig(base({ configFile: yaml() }));
    expect(fileOnly.types.get('cover_letter')).toMatchObject({ budgetGb: 6, vramMiB: 6144, budgetSource: 'configFile' });
  });

  it('maps type names to env variables: upper-cased, other characters to _', async () => {
    const config = await resolveConfig(base({ types: { 'cover-letter.v2': { handler: HANDLER } }, env: { VRAM_BUDGET_COVER_LETTER_V2: ' 12 ' } }));
    expect(config.types.get('cover-letter.v2')).toMatchObject({ budgetGb: 12, budgetSource: 'env' });
  });

  it.each(['abc', '', ' ', '-1', '0', 'Infinity', '1e999', '0x10', '9.9GB', '1,5'])('rejects env VRAM_BUDGET_COVER_LETTER=%j', async (value) => {
    await rejects(base({ env: { VRAM_BUDGET_COVER_LETTER: value } }), '`env VRAM_BUDGET_COVER_LETTER`');
  });

  it('warns about a GPU type with no budget, saying how to set one', async () => {
    const log = capture();
    const config = await resolveConfig(base({ types: { summarize: { handler: HANDLER } } }, log));
    expect(config.types.get('summarize')).toMatchObject({ vramMiB: 0, budgetSource: 'none' });
    expect(config.types.get('summarize')?.budgetGb).toBeUndefined();
    const [warning, ...rest] = log.warnings();
    expect(rest).toEqual([]);
    for (const part of ['summarize', 'options.types.summarize.vramGb', 'scheduler.vram_budgets.summarize', 'VRAM_BUDGET_SUMMARIZE']) expect(warning).toContain(part);
    expect(log.lines.find((l) => l.level === 40)).toMatchObject({ type: 'summarize' });
  });

  it('ignores a budget for a free-lane type, with a warning per source', async () => {
    const log = capture();
    const configFile = file('free.yml', 'scheduler:\n  vram_budgets:\n    embed: 2\n');
    const config = await resolveConfig(base({ types: { embed: { handler: HANDLER, gpu: false, vramGb: 1 } }, configFile, env: { VRAM_BUDGET_EMBED: '3' } }, log));
    expect(config.types.get('embed')).toMatchObject({ gpu: false, vramMiB: 0, budgetSource: 'none' });
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toContain('env VRAM_BUDGET_EMBED');
  });

  it('warns (does not fail) about file budgets and env variables for unknown types', async () => {
    const log = capture();
    const configFile = file('extra.yaml', 'scheduler:\n  vram_budgets:\n    cover_letter: 5\n    old_type: 3\n');
    const config = await resolveConfig(base({ configFile, env: { VRAM_BUDGET_OLD_TYPO: '2' } }, log));
    expect(config.types.get('cover_letter')?.budgetGb).toBe(5);
    expect(log.warnings()).toHaveLength(2);
    expect(log.warnings()[0]).toContain('scheduler.vram_budgets.old_type');
    expect(log.warnings()[1]).toContain('VRAM_BUDGET_OLD_TYPO');
  });

  it('half-applies nothing: a bad value logs no warnings and returns nothing', async () => {
    const log = capture();
    const types = { summarize: { handler: HANDLER }, cover_letter: { handler: HANDLER } };
    await rejects(base({ types, env: { VRAM_BUDGET_COVER_LETTER: 'abc' } }, log), 'VRAM_BUDGET_COVER_LETTER');
    expect(log.lines).toEqual([]);
  });
});

describe('resolveConfig: config file', () => {
  it('reads max_queue_depth from YAML, JSON and .yml; the file beats options', async () => {
    const files = [
      file('q.yaml', 'app: { other: 1 }\nscheduler:\n  max_queue_depth: 42\n'),
      file('q.json', JSON.stringify({ scheduler: { max_queue_depth: 42, vram_budgets: { cover_letter: 7 } } })),
      file('q.yml', 'scheduler:\n  max_queue_depth: 42\n'),
    ];
    for (const configFile of files) {
      const config = await resolveConfig(base({ configFile, maxQueueDepth: 10 }));
      expect(config.maxQueueDepth).toBe(42);
    }
    expect((await resolveConfig(base({ configFile: files[1] }))).types.get('cover_letter')?.budgetSource).toBe('configFile');
  });

  it('resolves a relative path against the cwd and accepts an empty file', async () => {
    const configFile = path.relative(process.cwd(), file('empty.yaml', ''));
    const config = await resolveConfig(base({ configFile, maxQueueDepth: 9 }));
    expect(config.maxQueueDepth).toBe(9);
  });

  it('rejects a missing file, naming it', async () => {
    await rejects(base({ configFile: './no-such-scheduler.yaml' }), '`options.configFile`', path.resolve('no-such-scheduler.yaml'));
  });

  it('rejects a YAML syntax error, naming the file and the line', async () => {
    const configFile = file('broken.yaml', 'scheduler:\n  vram_budgets: [1\n  max_queue_depth: 3\n');
    await rejects(base({ configFile }), configFile, 'valid YAML', 'line 3');
  });

  it('rejects a JSON syntax error, naming the file', async () => {
    const configFile = file('broken.json', '{ "scheduler": { "max_queue_depth": 3, } }');
    await rejects(base({ configFile }), configFile, 'valid JSON');
  });

  it.each([
    ['bad-budget.yaml', 'scheduler:\n  vram_budgets:\n    cover_letter: -2\n', 'scheduler.vram_budgets.cover_letter in '],
    ['str-budget.yaml', 'scheduler:\n  vram_budgets:\n    cover_letter: "8"\n', 'scheduler.vram_budgets.cover_letter in '],
    ['list-budgets.yaml', 'scheduler:\n  vram_budgets: [1, 2]\n', 'scheduler.vram_budgets in '],
    ['depth.yaml', 'scheduler:\n  max_queue_depth: 0\n', 'scheduler.max_queue_depth in '],
    ['typo.yaml', 'scheduler:\n  vram_budget:\n    cover_letter: 3\n', 'vram_budgets, max_queue_depth'],
    ['scalar.yaml', 'scheduler: 3\n', 'scheduler in '],
    ['list.json', '[1]', 'top level of '],
  ])('rejects %s, naming the key and the file', async (name, text, fragment) => {
    const configFile = file(name, text);
    await rejects(base({ configFile }), fragment, configFile);
  });
});

describe('resolveConfig: logger', () => {
  it('uses a child of the given logger with the service name', async () => {
    const log = capture();
    const config = await resolveConfig(base({ serviceName: 'svc' }, log));
    config.logger.info('hello');
    expect(log.lines.at(-1)).toMatchObject({ msg: 'hello', service: 'svc' });
  });

  it('creates a pino logger at VRAM_SCHEDULER_LOG_LEVEL when none is given', async () => {
    const { logger: _ignored, ...options } = base({ serviceName: 'svc', env: { VRAM_SCHEDULER_LOG_LEVEL: 'error' } });
    const config = await resolveConfig(options);
    expect(config.logger.level).toBe('error');
  });

  it('rejects an unknown log level and a logger that is not one', async () => {
    const { logger: _ignored, ...options } = base({ env: { VRAM_SCHEDULER_LOG_LEVEL: 'loud' } });
    await rejects(options, '`env VRAM_SCHEDULER_LOG_LEVEL`');
    await rejects(base({ logger: console.log }), '`options.logger`');
    await rejects(base({ logger: { info: () => undefined } }), '`options.logger`', 'missing child');
  });
});
