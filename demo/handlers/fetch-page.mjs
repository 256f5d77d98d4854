// "fetch_page": free lane (gpu: false). Simulated: no network, a little CPU to "parse" the page.
import { defineHandler } from 'vram-scheduler/worker';
import { hashString } from './synthetic-model.mjs';

export default defineHandler((payload) => {
  const { hostname } = new URL(payload.url);
  if (hostname.endsWith('.invalid')) throw new Error(`getaddrinfo ENOTFOUND ${hostname} (simulated)`);
  let h = hashString(payload.url);
  for (let i = 0; i < 2_000_000; i++) h = Math.imul(h ^ i, 0x01000193);
  return { text: `<title>${hostname} page ${(h >>> 0).toString(16)}</title>`, bytes: 2048 + (h & 0xffff) };
});
