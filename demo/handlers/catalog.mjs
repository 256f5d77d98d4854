// The demo's task types in one place: demo.mjs configures the scheduler from it, and each
// handler sizes its synthetic model from its own entry (weights scale with the VRAM budget).
export const CATALOG = {
  summarize: { handler: 'summarize.mjs', vramGb: 14, roundsPerToken: 6000 },
  translate: { handler: 'translate.mjs', vramGb: 8, roundsPerToken: 4000 },
  embed: { handler: 'embed.mjs', vramGb: 4, concurrency: 2, roundsPerToken: 2500 },
  fetch_page: { handler: 'fetch-page.mjs', gpu: false },
};
