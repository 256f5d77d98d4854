/**
 * An HTTP service in front of a local Ollama: requests queue durably, run one model at a time
 * within the VRAM budget, and survive a restart. On 127.0.0.1 only.
 *
 *   curl -X POST localhost:3000/generate -d '{"prompt":"Why is the sky blue?"}'   → { id }
 *   curl localhost:3000/tasks/<id>                                                → the result when done
 */
import http from 'node:http';
import { createScheduler, SchedulerError } from 'vram-scheduler';
import type generateHandler from './generate-handler.js';

type Tasks = { generate: typeof generateHandler };

const scheduler = await createScheduler<Tasks>({
  types: { generate: { handler: new URL('./generate-handler.js', import.meta.url), vramGb: 4, timeoutMs: 300_000 } },
  maxQueueDepth: 100,
  metricsPort: 9464, // Prometheus: http://127.0.0.1:9464/metrics
});

const server = http.createServer(async (request, response) => {
  const send = (status: number, body: unknown) => response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  try {
    if (request.method === 'POST' && request.url === '/generate') {
      let text = '';
      for await (const chunk of request) text += String(chunk);
      const { prompt } = JSON.parse(text) as { prompt?: unknown };
      if (typeof prompt !== 'string') return send(400, { error: 'expected { "prompt": string }' });
      const { id } = await scheduler.submit('generate', { prompt });
      return send(202, { id });
    }
    const match = /^\/tasks\/([\w-]+)$/.exec(request.url ?? '');
    if (request.method === 'GET' && match) {
      const result = await scheduler.result(match[1]!);
      return send(200, result ?? { status: (await scheduler.get(match[1]!)).status });
    }
    send(404, { error: 'POST /generate or GET /tasks/:id' });
  } catch (error) {
    // QUEUE_FULL → 429 (backpressure), TASK_NOT_FOUND → 404, the rest → 500.
    const code = error instanceof SchedulerError ? error.code : undefined;
    send(code === 'QUEUE_FULL' ? 429 : code === 'TASK_NOT_FOUND' ? 404 : 500, { error: String(error), code });
  }
});
server.listen(3000, '127.0.0.1', () => console.log('listening on http://127.0.0.1:3000'));

process.once('SIGINT', () => {
  server.close();
  void scheduler.close(); // queued tasks stay stored for the next start
});
