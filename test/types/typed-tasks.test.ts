/**
 * The typed API: a task map declared once types submit() payloads and wait()/result()/get()/run()
 * results. The checks are compile-time: `npm run typecheck` (tsc over test/) fails if a wrong
 * payload compiles (`@ts-expect-error` unused) or a type differs (`expectTypeOf`).
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { Scheduler, Task, TaskRecord, TaskResult } from 'vram-scheduler';
import { defineHandler } from 'vram-scheduler/worker';
import { closeAll, fixture, start } from '../support/scheduler.js';

afterEach(closeAll);

/** A handler as a user writes it; only its type is used here. */
const embedHandler = defineHandler({
  load: () => ({ dimensions: 3 }),
  run: (payload: { text: string }, _ctx, model) => Array.from({ length: model.dimensions }, () => payload.text.length),
});

type Tasks = {
  embed: typeof embedHandler; // from the handler's declared types
  echo: Task<{ n: number }, { payload: { n: number }; loads: number }>; // declared by hand
};

describe('typed tasks', () => {
  it('checks payloads and types results against the declared task map', () => {
    const scheduler = null as unknown as Scheduler<Tasks>;
    const compileOnly = async () => {
      const { id } = await scheduler.submit('embed', { text: 'hello' });
      expectTypeOf(await scheduler.wait(id)).toEqualTypeOf<TaskResult<number[]>>();
      expectTypeOf(await scheduler.result(id)).toEqualTypeOf<TaskResult<number[]> | undefined>();
      expectTypeOf(await scheduler.get(id)).toEqualTypeOf<TaskRecord<{ text: string }, number[]>>();
      expectTypeOf((await scheduler.run('echo', { n: 1 })).value).toEqualTypeOf<{ payload: { n: number }; loads: number } | undefined>();
      expectTypeOf(id).toExtend<string>(); // still a string at heart: logs, maps, JSON

      // @ts-expect-error the payload of 'embed' is { text: string }
      await scheduler.submit('embed', { text: 42 });
      // @ts-expect-error 'echo' takes { n: number }
      await scheduler.run('echo', { m: 1 });
      // @ts-expect-error not a declared task type
      await scheduler.submit('translate', {});

      // An id from elsewhere (a database, a URL) is a plain string: its result is any declared output.
      expectTypeOf(await scheduler.wait('stored-id')).toEqualTypeOf<TaskResult<number[] | { payload: { n: number }; loads: number }>>();
    };
    expectTypeOf(compileOnly).returns.resolves.toBeVoid();
    // Without a declared map, everything is as loose as before: any type name, unknown payloads and values.
    expectTypeOf<Scheduler['submit']>().parameter(0).toEqualTypeOf<string>();
    expectTypeOf<Scheduler['submit']>().parameter(1).toBeUnknown();
    expectTypeOf<Scheduler['wait']>().returns.resolves.toEqualTypeOf<TaskResult<unknown>>();
  });

  it('runs a typed scheduler: createScheduler<Tasks>() requires each declared type to be configured', async () => {
    const s = (await start({ types: { echo: { handler: fixture('echo-handler.mjs'), vramGb: 1 } } })) as unknown as Scheduler<Pick<Tasks, 'echo'>>;
    const result = await s.run('echo', { n: 7 });
    expectTypeOf(result.value).toEqualTypeOf<{ payload: { n: number }; loads: number } | undefined>();
    expect(result.value?.payload.n).toBe(7);
    const options = { types: { echo: { handler: fixture('echo-handler.mjs') } } };
    expectTypeOf(options).toExtend<Parameters<typeof import('vram-scheduler').createScheduler<Pick<Tasks, 'echo'>>>[0]>();
    expectTypeOf(options).not.toExtend<Parameters<typeof import('vram-scheduler').createScheduler<Tasks>>[0]>(); // 'embed' is missing
  });
});
