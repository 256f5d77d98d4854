// The demo's task mix, from a seeded PRNG: the same seed always gives the same tasks.
// Most tasks come in one burst with everyday priorities; the last fifth is a late, more urgent
// wave (demo.mjs submits it while the burst is half done) that overtakes queued work.

/** Relative share of each type in the mix, and how to make one of its payloads. */
const KINDS = {
  summarize: { share: 2, payload: (i, r) => ({ prompt: `report-${i}.txt`, tokens: r.int(30, 60) }) },
  chat: { share: 3, payload: (i, r) => ({ prompt: `${r.pick(['How do I', 'Why does', 'Can you explain how to'])} ${r.pick(['reset a router', 'bake bread', 'sort a list', 'tie a bowline'])}? (#${i})`, tokens: r.int(15, 45) }) },
  translate: { share: 2, payload: (i, r) => ({ prompt: `sentence ${i}`, to: r.pick(['French', 'German', 'Spanish', 'Japanese', 'Klingon']), tokens: r.int(20, 40) }) },
  embed: { share: 3, payload: (i) => ({ prompt: `chunk ${i}`, tokens: 16 }) },
  fetch_page: { share: 2, payload: (i, r) => ({ url: `https://${r.pick(['news.example.com', 'docs.example.org', 'wiki.example.net', 'gone.invalid'])}/article/${i}` }) },
};

/** Cumulative chances of critical, high, normal (the rest is low). */
const BURST_PRIORITIES = [0.03, 0.15, 0.75];
const LATE_PRIORITIES = [0.2, 0.7, 1];

/**
 * @param {{ seed: number, count: number, types: string[] }} spec
 * @returns {{ tasks: { type: string, payload: object, priority: 'critical' | 'high' | 'normal' | 'low' }[], burst: number }}
 */
export function makeTasks({ seed, count, types }) {
  const r = random(seed);
  const totalShare = types.reduce((sum, type) => sum + KINDS[type].share, 0);
  const burst = Math.ceil(count * 0.8);
  const tasks = Array.from({ length: count }, (_, i) => {
    let roll = r.next() * totalShare;
    const type = types.find((t) => (roll -= KINDS[t].share) < 0) ?? types.at(-1);
    const [critical, high, normal] = i < burst ? BURST_PRIORITIES : LATE_PRIORITIES;
    const p = r.next();
    const priority = p < critical ? 'critical' : p < high ? 'high' : p < normal ? 'normal' : 'low';
    return { type, payload: KINDS[type].payload(i, r), priority };
  });
  return { tasks, burst };
}

/** A tiny seeded PRNG (mulberry32): floats in [0, 1), plus helpers. */
function random(seed) {
  let a = seed | 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (list) => list[Math.floor(next() * list.length)] };
}
