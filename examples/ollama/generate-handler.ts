/**
 * A GPU task type served by a local Ollama (http://127.0.0.1:11434). Ollama holds the model in
 * VRAM, so the batch lifecycle drives it: `load()` asks Ollama to load the model and keep it,
 * `unload()` asks it to unload, and the type's `vramGb` budget stands for the model Ollama holds.
 */
import { defineHandler } from 'vram-scheduler/worker';

const OLLAMA = process.env.OLLAMA_URL ?? 'http://127.0.0.1:11434';
const MODEL = process.env.OLLAMA_MODEL ?? 'llama3.2';

export interface GenerateInput {
  prompt: string;
}

export interface GenerateOutput {
  text: string;
  /** Tokens generated, as Ollama counts them. */
  tokens: number;
}

interface OllamaReply {
  response: string;
  eval_count?: number;
}

async function ollama(body: object, signal?: AbortSignal): Promise<OllamaReply> {
  const response = await fetch(`${OLLAMA}/api/generate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: MODEL, stream: false, ...body }),
    ...(signal ? { signal } : {}),
  });
  if (!response.ok) throw new Error(`Ollama answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as OllamaReply;
}

export default defineHandler<GenerateInput, GenerateOutput, void>({
  async load() {
    await ollama({ keep_alive: -1 }); // no prompt: load the model and keep it until unload()
  },
  async run({ prompt }, ctx) {
    const reply = await ollama({ prompt }, ctx.signal); // cancel() and timeouts abort the request
    return { text: reply.response, tokens: reply.eval_count ?? 0 };
  },
  async unload() {
    await ollama({ keep_alive: 0 }); // frees Ollama's VRAM before the scheduler hands it to another type
  },
});
