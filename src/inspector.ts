/**
 * The ready way to watch the machines live: `@statelyai/inspect`'s WebSocket inspector and its
 * local relay server, which serves a page embedding the Stately UI. Loaded only when turned on,
 * so an off inspector costs nothing (not even the import).
 *
 * What the stream carries: the supervisor and every batch actor (spawn, events, snapshots,
 * stop). Two adjustments to the stock inspector, both for the reader of the stream:
 * - transient states show: the supervisor passes through `dispatching` within one event, which
 *   XState reports as a microstep (the stock inspector drops microsteps); a microstep that
 *   changes an actor's state value is sent as a snapshot;
 * - per-task traffic is left out: the task actors (`task:<id>`), and a batch's bookkeeping when
 *   one of its tasks ends (the `xstate.done.actor.task:<id>` event, and the snapshot it causes
 *   unless the batch changes state). It would flood the view and cost a serialization per task;
 *   a batch's counters show at its next change of state. A user-supplied `inspect` observer still
 *   sees everything.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import { InvalidOptionsError } from './errors.js';

export interface LiveInspector {
  /** The page to open in a browser. */
  url: string;
  /** The XState inspection observer feeding the stream. */
  inspect: Observer<InspectionEvent>;
  stop(): Promise<void>;
}

/** Starts the relay server on 127.0.0.1:`port` and connects the inspector to it. A port that cannot be bound rejects with INVALID_OPTIONS. */
export async function startInspector(port: number, logger: Logger): Promise<LiveInspector> {
  const [{ createWebSocketInspector }, { createInspectorServer }] = await Promise.all([import('@statelyai/inspect'), import('@statelyai/inspect/server')]);
  const { relay, server } = onLoopback(() => createInspectorServer({ port, autoOpen: false }));
  // ws forwards server errors to its WebSocketServer, which has no listener and would throw: we handle them here.
  server.removeAllListeners('error');
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const closeServer = (): void => {
    relay.stop();
    for (const socket of sockets) socket.destroy(); // browser tabs: the ws server leaves them open
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (cause) {
    closeServer();
    const fix = 'choose another port with options.inspector.port or VRAM_SCHEDULER_INSPECT=<port>';
    throw new InvalidOptionsError(`options.inspector: cannot listen on 127.0.0.1:${port} (${(cause as Error).message}): ${fix}`, { cause });
  }
  server.on('error', (error) => logger.error({ err: error }, 'inspector: server error'));
  server.unref(); // watching must not keep the process alive

  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
  // The adapter reconnects every 5 s after a socket error, with no way to cancel: never stop it
  // while it connects, or it would retry forever against a closed server.
  const socket = (inspector.adapter as unknown as { ws?: WebSocketLike }).ws;
  if (socket) await opened(socket);
  const url = `http://127.0.0.1:${port}`;
  logger.info({ url }, `inspector: open ${url} to watch the scheduler's machines live`);
  return {
    url,
    inspect: forStately(inspector),
    async stop() {
      const closed = socket && socket.readyState === OPEN ? new Promise<void>((resolve) => socket.once('close', () => resolve())) : undefined;
      inspector.stop();
      await closed;
      closeServer();
    },
  };
}

/** Passes XState's inspection events to the Stately inspector, showing transient states and leaving out per-task actors. */
function forStately(inspector: ReturnType<typeof createWebSocketInspector>): Observer<InspectionEvent> {
  type Actor = InspectionEvent['actorRef'];
  type Microstep = Extract<InspectionEvent, { type: '@xstate.microstep' }>;
  const shownValue = new WeakMap<Actor, string>();
  /** An actor's latest microstep of the event being processed: sent once another follows; the last one equals the snapshot that ends the event. */
  const held = new WeakMap<Actor, Microstep>();
  const show = (step: Microstep): void => {
    const { value, status, context } = step.snapshot as { value?: unknown; status: 'active' | 'done' | 'error' | 'stopped'; context?: unknown };
    const key = JSON.stringify(value);
    if (key === shownValue.get(step.actorRef)) return; // a step within a state (an action, a self-transition)
    shownValue.set(step.actorRef, key);
    // Deferred like the stock inspector's own events, so serialization stays off the dispatch path and in order.
    setTimeout(() => inspector.snapshot(step.actorRef, { value, status, context }, { event: step.event }), 0);
  };
  const sameValue = (event: Extract<InspectionEvent, { type: '@xstate.snapshot' }>): boolean =>
    JSON.stringify((event.snapshot as { value?: unknown }).value) === shownValue.get(event.actorRef);
  return {
    next(event) {
      if ((event.actorRef as { id?: string }).id?.startsWith('task:')) return;
      if (event.type === '@xstate.event' && isTaskDone(event.event)) return;
      if (event.type === '@xstate.snapshot' && isTaskDone(event.event) && sameValue(event)) return;
      if (event.type === '@xstate.microstep') {
        const previous = held.get(event.actorRef);
        if (previous) show(previous);
        held.set(event.actorRef, event);
        return;
      }
      if (event.type === '@xstate.snapshot') {
        held.delete(event.actorRef);
        shownValue.set(event.actorRef, JSON.stringify((event.snapshot as { value?: unknown }).value));
      }
      inspector.inspect.next?.(event);
    },
  };
}

const isTaskDone = (event: { type: string }): boolean => event.type.startsWith('xstate.done.actor.task:');

const OPEN = 1;
interface WebSocketLike {
  readyState: number;
  once(event: 'open' | 'close' | 'error', listener: () => void): void;
}

function opened(socket: WebSocketLike): Promise<void> {
  if (socket.readyState === OPEN) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('open', resolve);
    socket.once('error', resolve); // the adapter retries on its own; a failed inspector must not fail the scheduler
  });
}

/**
 * `createInspectorServer()` listens on every interface and reports neither its port nor its
 * errors. It creates its server with `http.createServer()` and calls `listen(port, callback)`
 * right away: for the length of that synchronous call, we make that server listen on 127.0.0.1
 * and keep a handle to it.
 */
function onLoopback(start: () => { stop(): void }): { relay: { stop(): void }; server: http.Server } {
  const mutableHttp = http as { createServer: typeof http.createServer };
  const create = mutableHttp.createServer;
  let server: http.Server | undefined;
  mutableHttp.createServer = ((...args: Parameters<typeof http.createServer>) => {
    const created = create(...args);
    const listen = created.listen.bind(created) as (port: number, host: string, callback?: () => void) => http.Server;
    created.listen = ((port: number, callback?: () => void) => listen(port, '127.0.0.1', callback)) as typeof created.listen;
    server = created;
    return created;
  }) as typeof http.createServer;
  let relay: { stop(): void };
  try {
    relay = start();
  } finally {
    mutableHttp.createServer = create;
  }
  if (!server) {
    relay.stop();
    throw new Error('@statelyai/inspect/server no longer creates its server with http.createServer(): the inspector cannot be bound to 127.0.0.1');
  }
  return { relay, server };
}
