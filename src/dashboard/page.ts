/**
 * The dashboard page: one HTML document, its stylesheet and its script, kept here as strings so
 * the package ships them inside dist with no build step and no network. The script builds the
 * DOM with textContent only (error messages are untrusted text) and follows `events` (SSE).
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vram-scheduler</title>
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>vram-scheduler</h1>
  <span id="state" class="pill" title="supervisor state">…</span>
  <span id="ended" class="ended"></span>
  <span id="connection" class="connection">connecting…</span>
</header>
<main>
  <section>
    <h2>Devices</h2>
    <div id="devices" class="devices"></div>
  </section>
  <section>
    <h2>Queues</h2>
    <table id="queues">
      <thead><tr><th>type</th><th>critical</th><th>high</th><th>normal</th><th>low</th><th>queued</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Recent failures</h2>
    <table id="failures">
      <thead><tr><th>when</th><th>type</th><th>task</th><th>device</th><th>code</th><th>message</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-failures" class="muted">No failures since the dashboard started.</p>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
:root { --ink: #1d2430; --muted: #6b7482; --line: #dde2e8; --bg: #f5f7fa; --card: #fff; --bad: #b42318; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 12px; padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 8px; }
main { padding: 16px 24px; display: grid; gap: 20px; }
.pill { padding: 2px 10px; border-radius: 999px; background: #e8eefc; color: #1f3f99; font-weight: 600; }
.ended { color: var(--muted); }
.connection { margin-left: auto; font-size: 12px; color: var(--muted); }
.connection.live { color: var(--ok); }
.connection.down { color: var(--bad); }
.muted { color: var(--muted); }
.devices { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.device { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.device-head { display: flex; justify-content: space-between; align-items: baseline; margin-bottom: 6px; }
.device-head strong { font-size: 15px; }
.bar { display: flex; height: 18px; border-radius: 4px; background: #e9edf2; overflow: hidden; }
.bar span { height: 100%; min-width: 2px; }
.bar .other { background: #98a2b3; }
.batches { list-style: none; margin: 10px 0 0; padding: 0; display: grid; gap: 4px; }
.batches li { display: flex; gap: 8px; align-items: center; }
.batches .swatch { margin-right: 0; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; flex: none; margin-right: 6px; }
.batch-type { font-weight: 600; }
.batch-state { font-size: 12px; padding: 0 6px; border-radius: 4px; background: #eef1f5; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; font-weight: 600; color: var(--muted); background: #fafbfc; }
tr:last-child td { border-bottom: none; }
#queues td:not(:first-child), #queues th:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; width: 90px; }
#queues td.zero { color: #b8bfc9; }
#queues td.total { font-weight: 600; }
#failures td { vertical-align: top; }
.code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; color: var(--bad); white-space: nowrap; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.message { word-break: break-word; display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; overflow: hidden; }
#failures td.mono { white-space: nowrap; }
`;

export const PAGE_JS = `'use strict';
const PRIORITIES = ['critical', 'high', 'normal', 'low'];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const gb = (n) => String(Math.round(n * 10) / 10);

/** A stable colour per type, so a type looks the same in every bar and list. */
function colourOf(type) {
  let hash = 0;
  for (const c of type) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return 'hsl(' + (hash % 360) + ', 55%, 48%)';
}

function swatch(type) {
  const node = el('span', { class: 'swatch' });
  node.style.background = colourOf(type);
  return node;
}

function deviceCard(device) {
  const unlimited = device.capacityGb === null;
  const usage = unlimited ? gb(device.reservedGb) + ' GB reserved (unlimited)' : gb(device.reservedGb) + ' / ' + gb(device.capacityGb) + ' GB reserved';
  const usageText = el('span', { class: 'vram-text' }, usage);
  if (unlimited) usageText.title = 'No GPU was found, or the policy is permissive: VRAM is not limited';
  const card = el('div', { class: 'device', 'data-device': device.id },
    el('div', { class: 'device-head' }, el('strong', {}, device.id), usageText));
  if (!unlimited) {
    const bar = el('div', { class: 'bar', role: 'meter', 'aria-label': 'VRAM reserved on ' + device.id,
      'aria-valuemin': 0, 'aria-valuemax': device.capacityGb, 'aria-valuenow': device.reservedGb });
    const share = (n) => Math.min(100, (n / device.capacityGb) * 100) + '%';
    let leased = 0;
    for (const batch of device.batches) {
      const part = el('span', { 'data-lease': batch.type, title: batch.type + ': ' + gb(batch.vramGb) + ' GB' });
      part.style.width = share(batch.vramGb);
      part.style.background = colourOf(batch.type);
      bar.append(part);
      leased += batch.vramGb;
    }
    // Reserved beyond the batches' leases: VRAM grown by running tasks (ctx.vram.grow).
    if (device.reservedGb - leased > 0.05) {
      const rest = el('span', { class: 'other', title: 'grown by tasks: ' + gb(device.reservedGb - leased) + ' GB' });
      rest.style.width = share(device.reservedGb - leased);
      bar.append(rest);
    }
    card.append(bar);
  }
  const list = el('ul', { class: 'batches' });
  for (const batch of device.batches) {
    list.append(el('li', { 'data-batch': batch.type },
      swatch(batch.type),
      el('span', { class: 'batch-type' }, batch.type),
      el('span', { class: 'batch-state' }, batch.state),
      el('span', { class: 'batch-running' }, batch.running + ' running'),
      el('span', { class: 'muted' }, batch.tasks + ' started · ' + gb(batch.vramGb) + ' GB')));
  }
  if (device.batches.length === 0) list.append(el('li', { class: 'muted' }, 'no batch'));
  card.append(list);
  return card;
}

function queueRow(queue) {
  const row = el('tr', { 'data-queue': queue.type }, el('td', {}, swatch(queue.type), queue.type));
  for (const priority of PRIORITIES) {
    const n = queue.byPriority[priority];
    row.append(el('td', { 'data-priority': priority, class: n === 0 ? 'zero' : '' }, n));
  }
  row.append(el('td', { class: 'total', 'data-total': '' }, queue.total));
  return row;
}

function failureRow(failure) {
  return el('tr', { 'data-failure': failure.id },
    el('td', { class: 'mono' }, new Date(failure.finishedAt).toLocaleTimeString()),
    el('td', {}, failure.type),
    // Ids are UUIDv7: their head is the submit's clock, the same for a minute; the tail is random.
    el('td', { class: 'mono', title: failure.id }, failure.id.slice(-8)),
    el('td', {}, failure.device || '–'),
    el('td', { class: 'code' }, failure.code),
    el('td', {}, el('div', { class: 'message', title: failure.message }, failure.message)));
}

function render(view) {
  document.getElementById('state').textContent = 'supervisor: ' + view.state;
  document.getElementById('ended').textContent = 'since start: ' + view.ended.succeeded + ' succeeded · ' + view.ended.failed + ' failed · ' + view.ended.cancelled + ' cancelled';
  document.getElementById('devices').replaceChildren(...view.devices.map(deviceCard));
  document.querySelector('#queues tbody').replaceChildren(...view.queues.map(queueRow));
  document.querySelector('#failures tbody').replaceChildren(...view.failures.map(failureRow));
  document.getElementById('failures').hidden = view.failures.length === 0;
  document.getElementById('no-failures').hidden = view.failures.length > 0;
  document.body.dataset.updatedAt = String(view.at);
}

function connection(text, kind) {
  const node = document.getElementById('connection');
  node.textContent = text;
  node.className = 'connection ' + kind;
}

const events = new EventSource('events');
events.onopen = () => connection('live', 'live');
events.onerror = () => connection('disconnected: retrying…', 'down');
events.onmessage = (message) => render(JSON.parse(message.data));
`;
