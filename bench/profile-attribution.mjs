// Where a CPU profile's time went, for bench/profile.mjs: per area (a library, this package, GC,
// idle) and per function, each sample charged to the nearest frame on its stack with a source file.

/** Samples in node:inspector (the profiler's own start and stop calls) are left out. */
const PROFILER = 'the profiler';
const PROGRAM = 'program (native, no JS frame)';
const SPECIAL = { '(garbage collector)': 'GC', '(idle)': 'idle', '(program)': PROGRAM, '(root)': PROGRAM };

/** A source file's URL, short: `piscina/dist/index.js` (a dependency), `dist/actors/run-task.js` (this package). */
export function shortUrl(url, { repoRoot }) {
  const dependency = url.lastIndexOf('/node_modules/');
  if (dependency >= 0) return url.slice(dependency + '/node_modules/'.length);
  return url.startsWith(repoRoot) ? url.slice(repoRoot.length) : url;
}

/** Area of a source file, by its URL. */
export function areaOf(url, { repoRoot, driverUrl }) {
  if (url.startsWith(`${repoRoot}dist/`)) return 'scheduler (this package)';
  if (url === driverUrl) return 'bench driver';
  if (/\/node_modules\/(lmdb|msgpackr|ordered-binary)\//.test(url)) return 'LMDB and msgpack';
  if (url.includes('/node_modules/piscina/')) return 'Piscina';
  if (url.includes('/node_modules/xstate/')) return 'XState';
  if (url.includes('/node_modules/')) return 'other libraries';
  if (url === 'node:inspector') return PROFILER;
  if (url.startsWith('node:')) return 'Node internals';
  return 'other';
}

/**
 * Self time per area and per function (µs), each sample charged to the nearest frame with a source
 * file. A sample's time is the gap since the one before (V8 stamps a sample when it is taken, so the
 * gap ends with the stack it shows). `lateUs`: time that came in gaps over twice the sampling
 * interval (the sampler was short of a core), each charged to wherever the thread was when its
 * late sample came.
 */
export function attribute(profile, { repoRoot, driverUrl, intervalUs }) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const owner = new Map(); // node id → { area, fn }
  const ownerOf = (id) => {
    let found = owner.get(id);
    if (found) return found;
    const frame = byId.get(id).callFrame;
    // A native frame right under the root has no JS caller: it is listed as (program), like its area.
    if (SPECIAL[frame.functionName] && !frame.url) found = { area: SPECIAL[frame.functionName], fn: frame.functionName === '(root)' ? '(program)' : frame.functionName };
    else if (frame.url) found = { area: areaOf(frame.url, { repoRoot, driverUrl }), fn: `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url, { repoRoot })}:${frame.lineNumber + 1}` };
    else found = parent.has(id) ? ownerOf(parent.get(id)) : { area: PROGRAM, fn: '(program)' };
    owner.set(id, found);
    return found;
  };
  const areas = new Map();
  const functions = new Map();
  let lateUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const { area, fn } = ownerOf(id);
    if (area === PROFILER) return;
    if (us > 2 * intervalUs) lateUs += us;
    areas.set(area, (areas.get(area) ?? 0) + us);
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  });
  return { areas, functions, lateUs };
}
