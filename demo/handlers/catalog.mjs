// The demo's task types in one place: demo.mjs configures the scheduler from it, and each
// handler sizes its synthetic model from its own entry (weights scale with the VRAM budget).
// `concurrency`: tasks of a batch run at once in its thread, sharing the loaded model.
export const CATALOG = {
  summarize: { handler: 'summarize.mjs', vramGb: 16, roundsPerToken: 24000, about: 'the big model, long answers' },
  chat: { handler: 'chat.mjs', vramGb: 12, concurrency: 3, roundsPerToken: 12000, about: 'short replies, three at once' },
  translate: { handler: 'translate.mjs', vramGb: 8, roundsPerToken: 16000, about: 'fails on Klingon, to show a failure' },
  embed: { handler: 'embed.mjs', vramGb: 6, concurrency: 2, roundsPerToken: 10000, about: 'a small model, returns a vector' },
  fetch_page: { handler: 'fetch-page.mjs', gpu: false, about: 'no GPU: the free lane' },
};
