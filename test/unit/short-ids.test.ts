/**
 * Where a task id is shown cut short (the dashboard's recent failures, the demo's lines), the
 * short form must still tell tasks apart. Task ids are UUIDv7: their first 8 hex digits are the
 * top of the submit's millisecond clock, the same for every task submitted within about 65 s.
 */
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { PAGE_JS } from '../../src/dashboard/page.js';
import type { DashboardView } from '../../src/dashboard/view.js';
import { newTaskId } from '../../src/task-id.js';

/** Two tasks that failed a second apart: what submit hands out (`newTaskId(queuedAt)`). */
const submittedAt = Date.UTC(2026, 10, 23, 14, 0, 0, 0);
const ids = [newTaskId(submittedAt + 1000), newTaskId(submittedAt)];

/** Just enough DOM for the page's script: elements that keep their attributes, children and text. */
class FakeNode {
  readonly attrs: Record<string, string> = {};
  readonly style: Record<string, string> = {};
  readonly dataset: Record<string, string> = {};
  children: FakeNode[] = [];
  hidden = false;
  className = '';
  constructor(public textContent = '') {}
  setAttribute(name: string, value: string): void {
    this.attrs[name] = value;
  }
  append(...nodes: FakeNode[]): void {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes: FakeNode[]): void {
    this.children = nodes;
  }
  get text(): string {
    return this.textContent + this.children.map((c) => c.text).join('');
  }
}

/** The failure rows' "task" cells as the page draws them for `view`. */
function shownTaskCells(view: DashboardView): string[] {
  const nodes = new Map<string, FakeNode>();
  const node = (key: string) => nodes.get(key) ?? nodes.set(key, new FakeNode()).get(key)!;
  let stream: { onmessage?: (message: { data: string }) => void } | undefined;
  const document = { createElement: () => new FakeNode(), createTextNode: (text: string) => new FakeNode(text), getElementById: node, querySelector: node, body: new FakeNode() };
  class EventSource {
    constructor() {
      stream = this;
    }
  }
  runInNewContext(PAGE_JS, { document, Node: FakeNode, EventSource });
  stream!.onmessage!({ data: JSON.stringify(view) });
  return node('#failures tbody').children.map((row) => row.children[2]!.text);
}

it("the dashboard's recent failures show each task's short id distinct, and part of its id", () => {
  const failure = (id: string, finishedAt: number) => ({ id, type: 'embed', code: 'HANDLER_ERROR', message: 'boom', finishedAt, device: 'gpu0' });
  const view: DashboardView = {
    state: 'idle',
    at: submittedAt + 2000,
    devices: [],
    queues: [],
    failures: [failure(ids[0]!, submittedAt + 1500), failure(ids[1]!, submittedAt + 500)],
    ended: { succeeded: 0, failed: 2, cancelled: 0 },
  };
  const shown = shownTaskCells(view);
  expect(shown).toHaveLength(2);
  expect(new Set(shown).size).toBe(2);
  shown.forEach((short, i) => expect(ids[i]).toContain(short));
});

it("the demo's failure lines show each task's short id distinct", async () => {
  const words = new URL('../../demo/view/words.mjs', import.meta.url).href;
  const { taskFailed } = (await import(words)) as { taskFailed(result: { id: string; type: string; error: { code: string; message: string } }): string };
  const lines = ids.map((id) => taskFailed({ id, type: 'embed', error: { code: 'HANDLER_ERROR', message: 'boom' } }));
  expect(new Set(lines).size).toBe(2);
});
