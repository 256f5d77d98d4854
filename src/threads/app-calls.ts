/**
 * Calls from a handler back to the app (comlink over a MessagePort each worker thread opens
 * once): progress reports and follow-up submits. The worker posts its end of the port on its
 * parent port at start-up; the pool's 'message' event hands it to `exposeAppCalls`.
 */
import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { SubmitOptions, SubmitReceipt } from '../submit.js';

/** What the main thread answers. Errors travel as data: comlink would drop their `code`. */
export interface AppCalls {
  progress(taskId: string, value: number, info: unknown): void;
  submit(type: string, payload: unknown, options: Omit<SubmitOptions, 'signal'> | undefined): Promise<SubmitReply>;
}

export type SubmitReply = { ok: true; receipt: SubmitReceipt } | { ok: false; error: { code: string; message: string } };

/** The message a worker posts on its parent port with its end of the channel. */
export interface AppPortMessage {
  vramSchedulerAppPort: MessagePort;
}

export function isAppPortMessage(message: unknown): message is AppPortMessage {
  return typeof message === 'object' && message !== null && 'vramSchedulerAppPort' in message;
}

/** Main thread: answer one worker's calls. The port does not keep the process alive. */
export function exposeAppCalls(calls: AppCalls, port: MessagePort): void {
  Comlink.expose(calls, nodeEndpoint(port));
  port.unref();
}

/** Worker thread: a proxy to the main thread's calls. */
export function connectAppCalls(port: MessagePort): Comlink.Remote<AppCalls> {
  const remote = Comlink.wrap<AppCalls>(nodeEndpoint(port));
  port.unref();
  return remote;
}
