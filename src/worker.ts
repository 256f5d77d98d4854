/** `vram-scheduler/worker`: what a handler module imports. */
export { defineHandler } from './threads/handler.js';
export type {
  Handler,
  HandlerDefinition,
  LoadContext,
  TaskContext,
  TaskDevice,
  TaskVram,
} from './threads/handler.js';
