/** Live inspection: the Stately inspector's stream over its WebSocket, and a user's own XState observer. */
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createWebSocketReceiver, type StatelyEventEvent, type StatelyInspectionEvent, type StatelySnapshotEvent } from '@statelyai/inspect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { closeAll, fixture, start } from '../support/scheduler.js';
import { freePort, occupy } from '../support/ports.js';

afterEach(closeAll);

const echo = fixture('echo-handler.mjs');

type Snapshot = { value?: unknown; status?: string };

describe('inspector', () => {
  it('streams the supervisor going idle → dispatching → idle and a batch actor spawning and stopping, on 127.0.0.1', async () => {
    const port = await freePort();
    const s = await start({ inspector: { port }, types: { echo: { handler: echo, vramGb: 2 } } });
    expect(s.inspectorUrl).toBe(`http://127.0.0.1:${port}`);
    const events: StatelyInspectionEvent[] = [];
    createWebSocketReceiver({ server: `ws://127.0.0.1:${port}` }).subscribe((event) => events.push(event));

    const { id } = await s.submit('echo', { n: 1 });
    await s.wait(id);
    await s.drain();

    const actors = () => events.filter((e) => e.type === '@xstate.actor');
    const snapshotsOf = (sessionId: string | undefined) =>
      events.filter((e) => e.type === '@xstate.snapshot' && e.sessionId === sessionId).map((e) => (e as StatelySnapshotEvent).snapshot as Snapshot);
    await vi.waitFor(() => {
      const supervisor = actors().find((a) => a.name === 'supervisor');
      const batch = actors().find((a) => a.name === 'batch:echo:1');
      expect(batch?.parentId).toBe(supervisor?.sessionId);
      expect(snapshotsOf(batch?.sessionId).at(-1)).toMatchObject({ status: 'done', value: 'released' });
      const values = snapshotsOf(supervisor?.sessionId).map((snapshot) => snapshot.value);
      expect(values.join(' → ')).toContain('idle → dispatching → idle');
    });
    const supervisor = actors().find((a) => a.name === 'supervisor')!;
    const eventNames = events.filter((e) => e.type === '@xstate.event' && e.sessionId === supervisor.sessionId).map((e) => (e as StatelyEventEvent).event.type);
    expect(eventNames).toContain('WAKE');
    expect(eventNames).toContain('xstate.done.actor.batch:echo:1');
    expect(JSON.parse(supervisor.definition!)).toMatchObject({ id: 'supervisor', states: { idle: {}, dispatching: {}, draining: {}, stopped: {} } });
    // Per-task traffic stays out of this stream: task actors, and a batch's event for each task that ends.
    expect(actors().map((a) => a.name).filter((name) => name.startsWith('task:'))).toEqual([]);
    expect(events.filter((e) => e.type === '@xstate.event' && (e as StatelyEventEvent).event.type.startsWith('xstate.done.actor.task:'))).toEqual([]);

    // The page that embeds the Stately UI, served on loopback only.
    const page = await fetch(s.inspectorUrl!);
    expect(await page.text()).toContain(`ws://localhost:${port}`);
    const outside = Object.values(networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal);
    if (outside) await expect(fetch(`http://${outside.address}:${port}/`)).rejects.toThrow();

    await s.close();
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('passes a user-supplied observer every actor: the supervisor and its batches (tasks are plain calls, not actors)', async () => {
    const seen: InspectionEvent[] = [];
    const s = await start({ inspect: (event) => seen.push(event), types: { echo: { handler: echo, vramGb: 2 } } });
    const { id } = await s.submit('echo', {});
    await s.wait(id);
    const spawned = seen.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as unknown as { id: string }).id);
    expect(spawned).toEqual(expect.arrayContaining(['batch:echo:1', 'unload'])); // after the root (the supervisor)
    expect(spawned.some((actorId) => actorId.startsWith('task:'))).toBe(false);
    expect(seen.filter((e) => e.type === '@xstate.microstep').map((e) => (e.snapshot as Snapshot).value)).toContain('dispatching');
  });

  it('refuses a port it cannot bind with INVALID_OPTIONS, and reads VRAM_SCHEDULER_INSPECT', async () => {
    const taken = await occupy(0);
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(start({ inspector: { port }, types: { echo: { handler: echo } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining(`127.0.0.1:${port}`) });
      await expect(start({ env: { VRAM_SCHEDULER_INSPECT: String(port) }, types: { echo: { handler: echo } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    } finally {
      taken.close();
    }
    await expect(start({ env: { VRAM_SCHEDULER_INSPECT: 'yes' }, types: { echo: { handler: echo } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('VRAM_SCHEDULER_INSPECT') });
    await expect(start({ inspector: { port: 0 }, types: { echo: { handler: echo } } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const off = await start({ env: { VRAM_SCHEDULER_INSPECT: '0' }, types: { echo: { handler: echo } } });
    expect(off.inspectorUrl).toBeUndefined();
  });
});
