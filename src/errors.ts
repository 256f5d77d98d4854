/**
 * Every failure a caller can act on has its own class and a stable `code`.
 * Tests and callers match on `code`, never on message text.
 */

/** The stable codes carried by thrown errors and by failed task results. */
export const ErrorCode = {
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  QUEUE_FULL: 'QUEUE_FULL',
  BUDGET_EXCEEDS_DEVICES: 'BUDGET_EXCEEDS_DEVICES',
  SCHEDULER_CLOSED: 'SCHEDULER_CLOSED',
  TASK_NOT_FOUND: 'TASK_NOT_FOUND',
  STORE_ERROR: 'STORE_ERROR',
  // Codes of failed tasks (TaskResult.error.code):
  HANDLER_ERROR: 'HANDLER_ERROR',
  WORKER_CRASHED: 'WORKER_CRASHED',
  MODEL_LOAD_FAILED: 'MODEL_LOAD_FAILED',
  INTERRUPTED: 'INTERRUPTED',
  TIMEOUT: 'TIMEOUT',
  WAIT_TIMEOUT: 'WAIT_TIMEOUT',
  INSUFFICIENT_RESOURCES: 'INSUFFICIENT_RESOURCES',
  CANCELLED: 'CANCELLED',
  // Thrown inside a handler by ctx.vram.grow():
  VRAM_GROW_TIMEOUT: 'VRAM_GROW_TIMEOUT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class: `instanceof SchedulerError` catches everything this library throws. */
export class SchedulerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option or config value is malformed. The message names the key, what was expected and what was got. */
export class InvalidOptionsError extends SchedulerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.INVALID_OPTIONS, message, options);
  }
}

/** `submit` named a task type that is not configured. */
export class UnknownTypeError extends SchedulerError {
  readonly type: string;
  constructor(type: string, known: readonly string[]) {
    super(
      ErrorCode.UNKNOWN_TYPE,
      `Unknown task type ${JSON.stringify(type)}: configure it in options.types (known: ${known.map((k) => JSON.stringify(k)).join(', ') || 'none'})`,
    );
    this.type = type;
  }
}

/** The payload cannot be structured-cloned (functions, symbols, class instances with private state…). */
export class InvalidPayloadError extends SchedulerError {
  constructor(type: string, cause: unknown) {
    super(
      ErrorCode.INVALID_PAYLOAD,
      `Payload for ${JSON.stringify(type)} cannot be structured-cloned (${cause instanceof Error ? cause.message : String(cause)}): send plain data (objects, arrays, strings, numbers, typed arrays)`,
      { cause },
    );
  }
}

/** Backpressure: the type's queue is at its depth limit. Nothing was written. */
export class QueueFullError extends SchedulerError {
  readonly type: string;
  readonly maxQueueDepth: number;
  constructor(type: string, maxQueueDepth: number) {
    super(
      ErrorCode.QUEUE_FULL,
      `Queue for ${JSON.stringify(type)} is full (${maxQueueDepth} tasks waiting): retry later or raise maxQueueDepth`,
    );
    this.type = type;
    this.maxQueueDepth = maxQueueDepth;
  }
}

/** The VRAM a task needs is larger than every device: it could never start. */
export class BudgetExceedsDevicesError extends SchedulerError {
  /** `threads`: the type's threads, each holding a copy of the model (the need counts every copy). */
  constructor(type: string, neededGb: number, largestGb: number, threads = 1) {
    const copies = threads > 1 ? ` (${threads} threads, one copy of the model each)` : '';
    const fix = threads > 1 ? 'lower its budget (vramGb) or its threads' : 'lower its budget (vramGb)';
    super(
      ErrorCode.BUDGET_EXCEEDS_DEVICES,
      `Task type ${JSON.stringify(type)} needs ${neededGb} GB of VRAM${copies} but the largest device has ${largestGb} GB: ${fix}, or add a larger device`,
    );
  }
}

/** The `'safety'` policy: the task cannot start now (VRAM or RAM taken). Nothing was written. */
export class InsufficientResourcesError extends SchedulerError {
  constructor(type: string, what: string) {
    super(ErrorCode.INSUFFICIENT_RESOURCES, `Task type ${JSON.stringify(type)} cannot start now: ${what} (policy 'safety' refuses instead of queueing; retry later or use policy 'queue')`);
  }
}

/** The scheduler is closing or closed. */
export class SchedulerClosedError extends SchedulerError {
  constructor(call: string) {
    super(ErrorCode.SCHEDULER_CLOSED, `Cannot ${call}: the scheduler is closed; create a new one`);
  }
}

/** No task with this id exists in the store. */
export class TaskNotFoundError extends SchedulerError {
  constructor(id: string) {
    super(ErrorCode.TASK_NOT_FOUND, `No task with id ${JSON.stringify(id)}`);
  }
}

/** The durable store could not be opened or written. */
export class StoreError extends SchedulerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.STORE_ERROR, message, options);
  }
}

/**
 * The one template for validation messages, after p-queue:
 * ``Expected `options.maxQueueDepth` to be a positive integer, got `-1` (number)``.
 */
export function expected(path: string, what: string, got: unknown): InvalidOptionsError {
  return new InvalidOptionsError(`Expected \`${path}\` to be ${what}, got ${describe(got)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\` (string)`;
  if (typeof value === 'function') return '`function` (function)';
  if (typeof value === 'symbol') return `\`${String(value)}\` (symbol)`;
  if (value === null) return '`null`';
  if (typeof value === 'object') return `\`${safeJson(value)}\` (${Array.isArray(value) ? 'array' : 'object'})`;
  return `\`${String(value)}\` (${typeof value})`;
}

function safeJson(value: object): string {
  try {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return '[unserializable]';
  }
}
