/**
 * The few node-llama-cpp (v3) types this example uses, so it typechecks without the package.
 * Once `npm install node-llama-cpp` has run, delete this file: the package's own types are complete.
 */
declare module 'node-llama-cpp' {
  export function getLlama(): Promise<Llama>;

  export interface Llama {
    loadModel(options: { modelPath: string; gpuLayers?: number | 'auto' | 'max' }): Promise<LlamaModel>;
  }

  export interface LlamaModel {
    createContext(options?: { contextSize?: number; sequences?: number }): Promise<LlamaContext>;
    dispose(): Promise<void>;
  }

  export interface LlamaContext {
    getSequence(): LlamaContextSequence;
    dispose(): Promise<void>;
  }

  export interface LlamaContextSequence {
    dispose(): void;
  }

  export class LlamaChatSession {
    constructor(options: { contextSequence: LlamaContextSequence; systemPrompt?: string });
    prompt(text: string, options?: { maxTokens?: number; signal?: AbortSignal }): Promise<string>;
    dispose(): void;
  }
}
