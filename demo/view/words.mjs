// The phrases both live views print, so the bars and the plain lines say the same things.

/** GB as the demo shows them everywhere (views, summary, chart): one decimal at most, ∞ for no limit. */
export const gb = (n) => (Number.isFinite(n) ? `${+n.toFixed(1)}` : '∞');
export const stamp = (ms) => `+${(ms / 1000).toFixed(1).padStart(5)} s`;

export const batchStarted = (b) => `batch #${b.n} start  ${b.type.padEnd(10)} on ${b.device}, lease ${gb(b.leaseGb)} GB`;
export const batchEnded = (b) => `batch #${b.n} end    ${b.type.padEnd(10)} on ${b.device}, ${b.tasks} tasks (${b.reason})`;
/** A task id's last 8 hex digits: its random part (a UUIDv7's first ones are the submit's clock). */
export const taskFailed = ({ id, type, error }) => `task failed  ${type.padEnd(10)} ${id.slice(-8)}  ${error.code}: ${error.message}`;

/** "summarize 4 · chat 0 · …" from a snapshot. */
export const queueDepths = (snapshot) =>
  Object.entries(snapshot.queues)
    .map(([type, n]) => `${type} ${n}`)
    .join(' · ');

/** "gpu0 22/24 GB, gpu1 8/24 GB" from a snapshot. */
export const reservedVram = (snapshot) => snapshot.devices.map((d) => `${d.id} ${gb(d.reservedGb)}/${gb(d.vramGb)} GB`).join(', ');
