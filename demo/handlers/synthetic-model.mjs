// A stand-in for an LLM that needs no GPU: its "weights" are real memory and its work is real CPU.
//   load():   allocates MB_PER_GB MB of weights per GB of the type's budget, fills them with
//             pseudo-random data and checksums them (that is the "loading" time);
//   run():    "generates" payload.tokens tokens, each one roundsPerToken rounds of a cheap hash
//             over the weights, yielding between tokens so concurrent tasks can interleave;
//   unload(): drops the weights.
import { threadId } from 'node:worker_threads';
import { defineHandler } from 'vram-scheduler/worker';

const MB_PER_GB = 2;
const VOCAB = ('the a model token scheduler memory batch queue thread device budget lease warm load run ' +
  'fast small large context answer question summary text page word French German English vector ' +
  'data result task job worker reserve release wait start end first last next every each').split(' ');

let loads = 0;

/** @param {{ budgetGb: number, roundsPerToken: number, output?: 'text' | 'vector' }} spec */
export function syntheticModel({ budgetGb, roundsPerToken, output = 'text' }) {
  return defineHandler({
    load(ctx) {
      // A power-of-two length lets run() index with a mask.
      const words = 2 ** Math.round(Math.log2((budgetGb * MB_PER_GB * 1024 * 1024) / 4));
      const weights = new Uint32Array(words);
      let x = 0x9e3779b9 ^ words;
      for (let i = 0; i < words; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5; // xorshift32
        weights[i] = x;
      }
      let checksum = 0;
      for (let pass = 0; pass < 4; pass++) for (let i = 0; i < words; i++) checksum = Math.imul(checksum ^ weights[i], 0x01000193);
      loads++;
      return { weights, mask: words - 1, checksum, loadId: `${ctx.type}@thread${threadId}#${loads}` };
    },

    async run(payload, ctx, model) {
      const { weights, mask } = model;
      let h = hashString(payload.prompt) ^ model.checksum;
      const words = [];
      for (let t = 0; t < payload.tokens; t++) {
        for (let r = 0; r < roundsPerToken; r++) h = Math.imul(h ^ weights[h & mask], 0x01000193) ^ r;
        words.push(output === 'vector' ? ((h >>> 16) / 32768 - 1).toFixed(2) : VOCAB[(h >>> 8) % VOCAB.length]);
        if (t % 4 === 3) await new Promise(setImmediate); // let the thread's other tasks run
        if (ctx.signal.aborted) throw new Error('aborted');
      }
      const shown = words.slice(0, 8).join(output === 'vector' ? ', ' : ' ');
      const text = output === 'vector' ? `[${shown}${words.length > 8 ? ', …' : ''}]` : `${shown}${words.length > 8 ? ' …' : ''}`;
      return { text, tokens: payload.tokens, loadId: model.loadId };
    },

    unload(model) {
      model.weights = undefined;
    },
  });
}

export function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
