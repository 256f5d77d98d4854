/** vram-scheduler: the public API. Everything a user needs, nothing internal. */
export { createScheduler, Scheduler } from './scheduler.js';
export type { SchedulerSnapshot } from './snapshot.js';
export type { QueuePosition } from './position.js';
export { getScheduler, resetScheduler } from './singleton.js';
export type { SchedulerOptions, TypeOptions, DeviceOptions } from './options.js';
export type { SubmitOptions, SubmitReceipt } from './submit.js';
export type { RetentionOptions } from './store/retention.js';
export type { GpuReading, GpuUsageSource } from './gpu/usage.js';
export type { ObservedVram } from './gpu/observed.js';
export type { Task, TaskSpec, TaskMap, AnyTasks, TaskName, TaskInput, TaskOutput, TaskId, TypedTaskId } from './tasks.js';
export type { InspectionObserver } from './observability-options.js';
export type { SchedulerEvents, SchedulerEventName } from './events.js';
export type { BatchEndReason } from './machines/batch.js';
export {
  PRIORITIES,
  type Priority,
  type TaskStatus,
  type TerminalStatus,
  type TaskError,
  type TaskRecord,
  type TaskResult,
} from './task.js';
export {
  ErrorCode,
  SchedulerError,
  InvalidOptionsError,
  UnknownTypeError,
  InvalidPayloadError,
  QueueFullError,
  BudgetExceedsDevicesError,
  SchedulerClosedError,
  InsufficientResourcesError,
  TaskNotFoundError,
  StoreError,
} from './errors.js';
