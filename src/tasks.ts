/**
 * Typed tasks: declare once which task types exist, what each takes and what it returns, and
 * `createScheduler<Tasks>()` checks every `submit()` payload at compile time and types every
 * `wait()`, `result()`, `get()` and `run()`. Without a declaration, everything stays `unknown`.
 *
 * ```ts
 * type Tasks = {
 *   embed: Task<{ text: string }, number[]>;                         // declared by hand
 *   summarize: typeof import('./handlers/summarize.js').default;     // or taken from the handler
 * };
 * const scheduler = await createScheduler<Tasks>({ types: { embed: {...}, summarize: {...} } });
 * const { id } = await scheduler.submit('embed', { text: 'hi' });   // payload checked
 * const result = await scheduler.wait(id);                          // result.value: number[] | undefined
 * ```
 */

/** One task type's input (the payload) and output (the handler's result). */
export interface Task<Input = unknown, Output = unknown> {
  input: Input;
  output: Output;
}

/** What a task map entry may be: a `Task<Input, Output>`, or a handler's type (`typeof handler`: its `run` gives both). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskSpec = Task<any, any> | { run(payload: any, ...rest: any[]): unknown };

/** A map from task type names to their specs. Interfaces and type aliases both qualify. */
export type TaskMap<T> = { [K in keyof T]: TaskSpec };

/** The map of a scheduler with no declared tasks: any type name, payloads and results `unknown`. */
export type AnyTasks = Record<string, Task>;

export type TaskName<T> = keyof T & string;

/** The payload `submit(type, …)` takes for `type` (for a union of types, the union of their payloads). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskInput<T, K extends keyof T> = K extends unknown ? (T[K] extends { run(payload: infer P, ...rest: any[]): unknown } ? P : T[K] extends Task<infer I, unknown> ? I : unknown) : never;

/** The value a task of `type` succeeds with (for a union of types, the union of their values). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskOutput<T, K extends keyof T> = K extends unknown ? (T[K] extends { run(...args: any[]): infer R } ? Awaited<R> : T[K] extends Task<unknown, infer O> ? O : unknown) : never;

declare const taskType: unique symbol;

/** An id that remembers its task type (only in the type system: at run time it is the string). */
export type TypedTaskId<K extends string> = string & { readonly [taskType]: K };

/** What `submit()` returns as the id: a plain string when the type is not known, else an id `wait()` can type. */
export type TaskId<K extends string = string> = string extends K ? string : TypedTaskId<K>;
