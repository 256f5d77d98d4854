/** Telling listeners: the scheduler's events, emitted so that a listener's failure stays the listener's. */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { SchedulerEventName, SchedulerEvents } from '../events.js';

export type Notify = <E extends SchedulerEventName>(event: E, ...args: Parameters<SchedulerEvents[E]>) => void;

/** A listener that throws must not break the scheduler's own bookkeeping: log it and go on. */
export function notifier(emitter: EventEmitter, logger: Logger): Notify {
  return (event, ...args) => {
    try {
      emitter.emit(event, ...args);
    } catch (error) {
      logger.error({ err: error, event }, 'an event listener threw');
    }
  };
}
