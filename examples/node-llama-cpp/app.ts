/**
 * Chat with a local GGUF model through the scheduler: `MODEL_PATH=model.gguf node app.js`.
 * The task map takes its types from the handler, so a wrong payload does not compile.
 */
import { createScheduler } from 'vram-scheduler';
import type chatHandler from './chat-handler.js';

type Tasks = { chat: typeof chatHandler };

const scheduler = await createScheduler<Tasks>({
  types: {
    // Budget: the GGUF's size plus its context; check with nvidia-smi while a batch runs.
    chat: { handler: new URL('./chat-handler.js', import.meta.url), vramGb: 6, timeoutMs: 120_000 },
  },
});

const { id } = await scheduler.submit('chat', { prompt: 'Name three uses of a VRAM scheduler.', maxTokens: 200 });
const result = await scheduler.wait(id);
if (result.status === 'succeeded') console.log(result.value?.text);
else console.error(result.status, result.error);
await scheduler.close();
