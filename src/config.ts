/**
 * options → validated config: defaults ← config file ← environment, later wins.
 * Every check happens here, once; a bad value throws `InvalidOptionsError` naming its exact
 * path. Nothing is half-applied: the logger is created and warnings are logged only after
 * every value has been validated.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { InvalidOptionsError, expected } from './errors.js';
import type { GpuUsageSource } from './gpu/usage.js';
import { DEFAULT_RETAIN, type Retain } from './store/retention.js';
import { gbToMiB } from './units.js';
import type { DeviceOptions } from './options.js';
import { readScheduling, SCHEDULING_KEYS, type Scheduling } from './scheduling-options.js';
import { OBSERVABILITY_KEYS, readObservability, type Observability } from './observability-options.js';
import { readMaxHeapMb, readThreads } from './type-threads.js';

/** A task type after validation. */
export interface ResolvedType {
  name: string;
  /** `file:` URL href of the handler module. */
  handlerUrl: string;
  gpu: boolean;
  /** Budget in MiB; 0 for free-lane types and for GPU types with no budget. */
  vramMiB: number;
  /** The budget in GB as configured, when there is one (never for free-lane types). */
  budgetGb?: number;
  /** Where the winning budget came from. */
  budgetSource: 'options' | 'configFile' | 'env' | 'none';
  /** Tasks one of its threads runs at once. */
  concurrency: number;
  /** Threads a batch of the type runs, each with its own copy of the model (1 for free-lane types, which share the free lane's). */
  threads: number;
  /** Time limit of each task in ms; 0 = none. */
  timeoutMs: number;
  /** Further attempts after a HANDLER_ERROR or WORKER_CRASHED failure, backing off from `retryBackoffMs`, doubling. */
  retries: number;
  retryBackoffMs: number;
  /** Requeued, not failed, when the process stopped while it ran. */
  idempotent: boolean;
  /** Its running batches may be preempted by critical/high tasks (with `preemption: true`). */
  preemptible: boolean;
  /** How long an idle batch keeps its model loaded and its lease; 0 = release at once. */
  keepAliveMs: number;
  /** KV-cache VRAM per 1000 tokens, in GB: a submit's `estimatedTokens` adds to its need. */
  kvGbPer1kTokens: number;
  /** System memory a task needs, in GB, checked against free memory before it starts; 0 = none. */
  ramGb: number;
  /** V8 heap limit of the type's worker thread in MB (its old generation); absent = V8's default. */
  maxHeapMb?: number;
}

/** The validated configuration everything past `createScheduler` trusts. */
export interface ResolvedConfig {
  /** Absolute. */
  dataDir: string;
  devices?: DeviceOptions[];
  maxQueueDepth: number;
  serviceName: string;
  freeLaneThreads: number;
  logger: Logger;
  types: ReadonlyMap<string, ResolvedType>;
  scheduling: Scheduling;
  retain: Retain;
  gpuMonitor: GpuMonitorConfig;
  /** Port of the dashboard on 127.0.0.1 (0 = any free one); absent = no dashboard. */
  dashboardPort?: number;
  observability: Observability;
}

/** `false`: off. `source` absent: the system's figures, for detected GPUs only. */
export type GpuMonitorConfig = false | { intervalMs: number; source?: GpuUsageSource };

/** GB (as users write budgets) → whole MiB (as the ledger counts), rounded up. One definition, in units.ts. */
export { gbToMiB };

/** The environment variable that overrides the budget of `type`: `VRAM_BUDGET_COVER_LETTER`. */
export const budgetEnvVar = (type: string): string =>
  `VRAM_BUDGET_${type.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** The ledger counts MiB in an Int32: no budget or device may exceed this many GB. */
export const MAX_GB = Math.floor(0x7fffffff / 1024);
export const MAX_CONCURRENCY = 256;
export const DEFAULT_MAX_QUEUE_DEPTH = 500;

const OPTION_KEYS = ['types', 'dataDir', 'devices', 'configFile', 'maxQueueDepth', 'logger', 'serviceName', 'freeLaneThreads', 'env', 'retain', 'gpuMonitor', 'dashboardPort', ...SCHEDULING_KEYS, ...OBSERVABILITY_KEYS];
const TYPE_KEYS = ['handler', 'vramGb', 'gpu', 'concurrency', 'timeoutMs', 'retries', 'retryBackoffMs', 'idempotent', 'preemptible', 'keepAliveMs', 'kvGbPer1kTokens', 'ramGb', 'maxHeapMb', 'threads'];
const DEVICE_KEYS = ['id', 'vramGb'];
const FILE_KEYS = ['vram_budgets', 'max_queue_depth'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const TYPE_NAME_RULE = 'type names of 1 to 64 characters from [A-Za-z0-9_.-], starting with a letter or digit, without ".."';
const GB_RULE = `a finite number of GB > 0 and <= ${MAX_GB}`;
const ENV_NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

type Dict = Record<string, unknown>;
type Env = Record<string, string | undefined>;
type Warning = [Record<string, unknown>, string];

type TypeDraft = Omit<ResolvedType, 'vramMiB' | 'budgetGb' | 'budgetSource'> & { vramGb: number | undefined };
/** What the config file says; `name` is the path as the user wrote it. */
type FileSettings = { name: string; budgets: Map<string, number>; maxQueueDepth: number | undefined };

/** Validates `options` (from an untyped caller too) and resolves defaults, the config file and env. */
export async function resolveConfig(options: unknown): Promise<ResolvedConfig> {
  if (!isDict(options)) throw expected('options', 'an object with at least `types`', options);
  checkKeys(options, OPTION_KEYS, (key) => `options.${key}`);
  const env = readEnv(options.env);
  const serviceName = readOptional(options.serviceName, 'vram-scheduler', isNonEmptyString, 'options.serviceName', 'a non-empty string');
  const dataDir = path.resolve(process.cwd(), readOptional(options.dataDir, './.vram-scheduler', isNonEmptyString, 'options.dataDir', 'a non-empty path'));
  const optionsDepth = readOptional(options.maxQueueDepth, DEFAULT_MAX_QUEUE_DEPTH, isPositiveInt, 'options.maxQueueDepth', 'a positive integer');
  const freeLaneThreads = readOptional(options.freeLaneThreads, os.availableParallelism(), isPositiveInt, 'options.freeLaneThreads', 'a positive integer');
  const scheduling = readScheduling(options);
  const retain = readRetain(options.retain);
  const gpuMonitor = readGpuMonitor(options.gpuMonitor);
  const dashboardPort = readOptional(options.dashboardPort, undefined, isPort, 'options.dashboardPort', 'an integer port from 0 to 65535 (0 picks a free one)');
  const observability = readObservability(options, env);
  const makeLogger = loggerFactory(options.logger, serviceName, env);
  const drafts = readTypes(options.types);
  const devices = options.devices === undefined ? undefined : readDevices(options.devices);
  const file = options.configFile === undefined ? undefined : await readConfigFile(options.configFile);

  const warnings: Warning[] = [];
  const types = new Map<string, ResolvedType>();
  for (const draft of drafts) types.set(draft.name, resolveBudget(draft, file, env, warnings));
  const known = [...types.keys()].join(', ');
  for (const name of [...(file?.budgets.keys() ?? [])].filter((n) => !types.has(n))) {
    warnings.push([{ type: name }, `scheduler.vram_budgets.${name} in ${file?.name ?? ''} names no configured task type: ignored (configured: ${known})`]);
  }
  const envNames = new Set(drafts.map((d) => budgetEnvVar(d.name)));
  for (const key of Object.keys(env).filter((k) => k.startsWith('VRAM_BUDGET_') && !envNames.has(k) && env[k] !== undefined)) {
    warnings.push([{ env: key }, `env ${key} matches no configured task type: ignored (expected one of ${[...envNames].join(', ')})`]);
  }

  const logger = makeLogger();
  for (const [obj, msg] of warnings) logger.warn(obj, msg);
  const config: ResolvedConfig = { dataDir, maxQueueDepth: file?.maxQueueDepth ?? optionsDepth, serviceName, freeLaneThreads, logger, types, scheduling, retain, gpuMonitor, observability };
  if (devices !== undefined) config.devices = devices;
  if (dashboardPort !== undefined) config.dashboardPort = dashboardPort;
  return config;
}

/** `options.retain`: `false` keeps every record forever. */
function readRetain(value: unknown): Retain {
  if (value === false) return { maxAgeMs: 0, maxCount: 0 };
  if (value === undefined) return DEFAULT_RETAIN;
  if (!isDict(value)) throw expected('options.retain', '`false` or an object `{ maxAgeMs?, maxCount? }`', value);
  checkKeys(value, ['maxAgeMs', 'maxCount'], (key) => `options.retain.${key}`);
  const limit = (key: keyof Retain) =>
    readOptional(value[key], DEFAULT_RETAIN[key], (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0, `options.retain.${key}`, 'an integer >= 0 (0 turns this limit off)');
  return { maxAgeMs: limit('maxAgeMs'), maxCount: limit('maxCount') };
}

function readGpuMonitor(value: unknown): GpuMonitorConfig {
  if (value === false) return false;
  if (value === undefined) return { intervalMs: 2000 };
  if (!isDict(value)) throw expected('options.gpuMonitor', '`false` or an object `{ intervalMs?, source? }`', value);
  checkKeys(value, ['intervalMs', 'source'], (key) => `options.gpuMonitor.${key}`);
  const intervalMs = readOptional(value.intervalMs, 2000, isPositiveInt, 'options.gpuMonitor.intervalMs', 'a positive integer number of ms');
  if (value.source !== undefined && typeof value.source !== 'function') throw expected('options.gpuMonitor.source', 'a function returning a promise of readings per device', value.source);
  return value.source === undefined ? { intervalMs } : { intervalMs, source: value.source as GpuUsageSource };
}

function resolveBudget(draft: TypeDraft, file: FileSettings | undefined, env: Env, warnings: Warning[]): ResolvedType {
  const { name } = draft;
  const envName = budgetEnvVar(name);
  let gb = draft.vramGb;
  let source: ResolvedType['budgetSource'] = gb === undefined ? 'none' : 'options';
  let from = `options.types.${name}.vramGb`;
  const fileGb = file?.budgets.get(name);
  if (fileGb !== undefined) {
    gb = fileGb;
    source = 'configFile';
    from = `scheduler.vram_budgets.${name} in ${file?.name ?? 'the config file'}`;
  }
  const raw = env[envName];
  if (raw !== undefined) {
    gb = parseEnvGb(raw, envName);
    source = 'env';
    from = `env ${envName}`;
  }
  const { vramGb: _ignored, ...base } = draft;
  if (!draft.gpu) {
    if (gb !== undefined) warnings.push([{ type: name, budgetSource: source }, `Task type ${name} is a free-lane type (gpu: false): its VRAM budget from ${from} is ignored`]);
    return { ...base, vramMiB: 0, budgetSource: 'none' };
  }
  if (gb === undefined) {
    const how = `set options.types.${name}.vramGb, scheduler.vram_budgets.${name} in the config file, or env ${envName} (GB)`;
    warnings.push([{ type: name }, `Task type ${name} has no VRAM budget: it reserves no VRAM and may run the GPU out of memory; ${how}`]);
    return { ...base, vramMiB: 0, budgetSource: 'none' };
  }
  return { ...base, vramMiB: gbToMiB(gb), budgetGb: gb, budgetSource: source };
}

function readTypes(value: unknown): TypeDraft[] {
  const shape = 'an object mapping type names to { handler, vramGb?, gpu?, concurrency? }';
  if (!isDict(value)) throw expected('options.types', shape, value);
  const names = Object.keys(value);
  if (names.length === 0) throw expected('options.types', `${shape} with at least one type`, value);
  const byEnvVar = new Map<string, string>();
  return names.map((name) => {
    if (name.length > 64 || !TYPE_NAME.test(name) || name.includes('..')) throw expected('options.types', TYPE_NAME_RULE, name);
    const envName = budgetEnvVar(name);
    const other = byEnvVar.get(envName);
    if (other !== undefined) {
      throw expected('options.types', `type names that map to distinct budget variables (${JSON.stringify(other)} and ${JSON.stringify(name)} both map to ${envName})`, name);
    }
    byEnvVar.set(envName, name);
    const p = `options.types.${name}`;
    const t = value[name];
    if (!isDict(t)) throw expected(p, 'an object { handler, vramGb?, gpu?, concurrency? }', t);
    checkKeys(t, TYPE_KEYS, (key) => `${p}.${key}`);
    if (t.vramGb !== undefined && !isGb(t.vramGb)) throw expected(`${p}.vramGb`, GB_RULE, t.vramGb);
    const concurrency = readOptional(t.concurrency, 1, (v): v is number => isPositiveInt(v) && v <= MAX_CONCURRENCY, `${p}.concurrency`, `a positive integer <= ${MAX_CONCURRENCY}`);
    return {
      name,
      handlerUrl: readHandler(t.handler, `${p}.handler`),
      gpu: readOptional(t.gpu, true, (v): v is boolean => typeof v === 'boolean', `${p}.gpu`, 'a boolean'),
      concurrency,
      threads: readThreads(t, p, concurrency),
      timeoutMs: readOptional(t.timeoutMs, 0, isPositiveInt, `${p}.timeoutMs`, 'a positive integer number of milliseconds'),
      retries: readOptional(t.retries, 0, (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 100, `${p}.retries`, 'an integer from 0 to 100'),
      retryBackoffMs: readOptional(t.retryBackoffMs, 1000, (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0, `${p}.retryBackoffMs`, 'an integer number of milliseconds >= 0'),
      keepAliveMs: readOptional(t.keepAliveMs, 300_000, (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0, `${p}.keepAliveMs`, 'an integer number of milliseconds >= 0 (0 releases at once)'),
      kvGbPer1kTokens: readOptional(t.kvGbPer1kTokens, 0, (v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_GB, `${p}.kvGbPer1kTokens`, 'a finite number of GB >= 0'),
      ramGb: readOptional(t.ramGb, 0, (v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0, `${p}.ramGb`, 'a finite number of GB >= 0'),
      idempotent: readOptional(t.idempotent, false, (v): v is boolean => typeof v === 'boolean', `${p}.idempotent`, 'a boolean'),
      preemptible: readOptional(t.preemptible, false, (v): v is boolean => typeof v === 'boolean', `${p}.preemptible`, 'a boolean'),
      vramGb: t.vramGb,
      ...readMaxHeapMb(t, p),
    };
  });
}

function readHandler(value: unknown, p: string): string {
  const what = 'a non-empty module path or a URL with protocol `file:`';
  if (!(value instanceof URL) && !isNonEmptyString(value)) throw expected(p, what, value);
  const shown = value instanceof URL ? value.href : value;
  let url: URL;
  let file: string;
  try {
    // A string with a scheme of two or more characters is a URL; one letter then ':' is a Windows drive.
    if (value instanceof URL) url = value;
    else url = /^[A-Za-z][A-Za-z0-9+.-]+:/.test(value) ? new URL(value) : pathToFileURL(path.resolve(process.cwd(), value));
    if (url.protocol !== 'file:') throw new Error(`protocol ${url.protocol} is not supported`);
    file = fileURLToPath(url);
  } catch (error) {
    throw expectedBecause(p, what, shown, errorText(error), error);
  }
  if (statSync(file, { throwIfNoEntry: false })?.isFile() !== true) {
    throw expectedBecause(p, 'an existing module file', shown, `resolved to ${file}, which is not a file`);
  }
  return url.href;
}

function readDevices(value: unknown): DeviceOptions[] {
  if (!Array.isArray(value) || value.length === 0) throw expected('options.devices', 'a non-empty array of { id, vramGb }', value);
  const seen = new Set<string>();
  return value.map((d: unknown, i) => {
    const p = `options.devices[${i}]`;
    if (!isDict(d)) throw expected(p, 'an object { id, vramGb }', d);
    checkKeys(d, DEVICE_KEYS, (key) => `${p}.${key}`);
    if (!isNonEmptyString(d.id)) throw expected(`${p}.id`, 'a non-empty string', d.id);
    if (seen.has(d.id)) throw expected(`${p}.id`, 'a device id not used by an earlier device', d.id);
    seen.add(d.id);
    if (!isGb(d.vramGb)) throw expected(`${p}.vramGb`, GB_RULE, d.vramGb);
    return { id: d.id, vramGb: d.vramGb };
  });
}

async function readConfigFile(value: unknown): Promise<FileSettings> {
  const ext = typeof value === 'string' ? path.extname(value).toLowerCase() : '';
  if (!isNonEmptyString(value) || !['.yaml', '.yml', '.json'].includes(ext)) {
    throw expected('options.configFile', 'a path to a .yaml, .yml or .json file', value);
  }
  const file = path.resolve(process.cwd(), value);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw expectedBecause('options.configFile', 'a readable config file', value, `cannot read ${file}: ${errorText(error)}`, error);
  }
  const format = ext === '.json' ? 'JSON' : 'YAML';
  let data: unknown;
  try {
    data = format === 'JSON' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // yaml's message starts "… at line L, column C:" followed by a code frame: keep the first line.
    const detail = errorText(error).split('\n')[0]?.replace(/:$/, '');
    throw expectedBecause('options.configFile', `valid ${format}`, value, `parse error in ${file}: ${detail}`, error);
  }
  const settings: FileSettings = { name: value, budgets: new Map(), maxQueueDepth: undefined };
  if (data === null || data === undefined) return settings; // an empty file: nothing to apply
  if (!isDict(data)) throw expected(`top level of ${value}`, 'a mapping', data);
  const scheduler = data.scheduler; // other top-level keys belong to the application: left alone
  if (scheduler === undefined || scheduler === null) return settings;
  if (!isDict(scheduler)) throw expected(`scheduler in ${value}`, 'a mapping', scheduler);
  checkKeys(scheduler, FILE_KEYS, (key) => `scheduler.${key} in ${value}`);
  const budgets = scheduler.vram_budgets;
  if (budgets !== undefined && budgets !== null) {
    if (!isDict(budgets)) throw expected(`scheduler.vram_budgets in ${value}`, 'a mapping of type names to GB', budgets);
    for (const [type, gb] of Object.entries(budgets)) {
      if (!isGb(gb)) throw expected(`scheduler.vram_budgets.${type} in ${value}`, GB_RULE, gb);
      settings.budgets.set(type, gb);
    }
  }
  const depth = scheduler.max_queue_depth;
  if (depth !== undefined && depth !== null) {
    if (!isPositiveInt(depth)) throw expected(`scheduler.max_queue_depth in ${value}`, 'a positive integer', depth);
    settings.maxQueueDepth = depth;
  }
  return settings;
}

function readEnv(value: unknown): Env {
  if (value === undefined) return process.env;
  if (!isDict(value)) throw expected('options.env', 'an object of environment variables', value);
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined && typeof v !== 'string') throw expected(`options.env.${key}`, 'a string or undefined', v);
  }
  return value as Env;
}

/** Env values are parsed strictly: plain decimal numbers only (`'9.9'`, `'12'`, `'1e1'`). */
function parseEnvGb(raw: string, name: string): number {
  const text = raw.trim();
  const gb = ENV_NUMBER.test(text) ? Number(text) : Number.NaN;
  if (!isGb(gb)) throw expected(`env ${name}`, `${GB_RULE}, written as a decimal number`, raw);
  return gb;
}

/** Validates the logger (or the log level) now; creates it only when everything else is valid. */
function loggerFactory(given: unknown, serviceName: string, env: Env): () => Logger {
  if (given !== undefined) {
    const methods = ['child', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];
    if (!isDict(given)) throw expected('options.logger', 'a pino Logger', given);
    const missing = methods.filter((m) => typeof given[m] !== 'function');
    if (missing.length > 0) throw expected('options.logger', `a pino Logger (missing ${missing.join(', ')})`, given);
    return () => (given as unknown as Logger).child({ service: serviceName });
  }
  const level = env.VRAM_SCHEDULER_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw expected('env VRAM_SCHEDULER_LOG_LEVEL', `one of ${LOG_LEVELS.join(', ')}`, level);
  return () => pino({ name: serviceName, level });
}

function readOptional<T>(value: unknown, fallback: T, check: (v: unknown) => v is T, p: string, what: string): T {
  if (value === undefined) return fallback;
  if (!check(value)) throw expected(p, what, value);
  return value;
}

function checkKeys(obj: Dict, valid: readonly string[], pathOf: (key: string) => string): void {
  for (const key of Object.keys(obj)) {
    if (!valid.includes(key)) throw expected(pathOf(key), `absent: it is not a known key (valid: ${valid.join(', ')})`, obj[key]);
  }
}

function expectedBecause(p: string, what: string, got: unknown, detail: string, cause?: unknown): InvalidOptionsError {
  return new InvalidOptionsError(`${expected(p, what, got).message} (${detail})`, cause === undefined ? undefined : { cause });
}

const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isPort = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
const isGb = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_GB;
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
