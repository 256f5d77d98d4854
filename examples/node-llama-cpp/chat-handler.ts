/**
 * A GPU task type running a GGUF model with node-llama-cpp. `load()` runs once per worker thread:
 * the model and its context stay loaded for every task of the batch, and `unload()` frees them
 * when the batch ends, before the scheduler returns the batch's VRAM.
 *
 * Needs `npm install node-llama-cpp` and MODEL_PATH=/path/to/model.gguf; not run in CI.
 */
import { getLlama, LlamaChatSession, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { defineHandler } from 'vram-scheduler/worker';

export interface ChatInput {
  prompt: string;
  maxTokens?: number;
}

export interface ChatOutput {
  text: string;
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
}

export default defineHandler<ChatInput, ChatOutput, Loaded>({
  async load(ctx) {
    const modelPath = process.env.MODEL_PATH;
    if (!modelPath) throw new Error('Set MODEL_PATH to a .gguf file');
    const llama = await getLlama();
    const model = await llama.loadModel({ modelPath });
    // One sequence: the type's `concurrency` is 1. Raise both together to serve tasks side by side.
    const context = await model.createContext({ sequences: 1 });
    ctx.log.info({ modelPath, device: ctx.device?.id }, 'model loaded');
    return { model, context };
  },

  async run({ prompt, maxTokens = 512 }, ctx, { context }) {
    const sequence = context.getSequence();
    const session = new LlamaChatSession({ contextSequence: sequence });
    try {
      // ctx.signal aborts on cancel() and timeout: generation stops at the next token.
      return { text: await session.prompt(prompt, { maxTokens, signal: ctx.signal }) };
    } finally {
      session.dispose();
      sequence.dispose(); // the next task takes a fresh sequence of the same loaded context
    }
  },

  async unload({ model, context }) {
    await context.dispose();
    await model.dispose();
  },
});
