// The live view on a terminal, drawn by cli-progress: a bar for all tasks, a line of queue
// depths, a bar of reserved VRAM per device, and a bar per live batch (its type's work done so
// far out of done + running + queued). Batch starts and ends, and failures, scroll above them.
import cliProgress from 'cli-progress';
import { batchEnded, batchStarted, gb, queueDepths, stamp, taskFailed } from './words.mjs';

export function barsView({ scheduler, recorder, total }) {
  const multibar = new cliProgress.MultiBar({
    stream: process.stdout,
    format: '{label} {bar} {detail}',
    barsize: 28,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    fps: 10,
    forceRedraw: true, // log lines scroll the bars down: every bar must be drawn again, changed or not
  });
  const line = (label, detail, barTotal = 1) => multibar.create(barTotal, 0, { label: label.padEnd(22), detail });
  const overall = line('all tasks', '', total);
  const queues = multibar.create(1, 0, { label: 'queued'.padEnd(22), detail: '' }, { format: '{label} {detail}' });
  const devices = new Map(scheduler.snapshot().devices.map((d) => [d.id, line(`${d.id} VRAM reserved`, '', Number.isFinite(d.vramGb) ? d.vramGb : 1)]));
  const batchBars = new Map(); // batch → its bar

  const say = (text) => multibar.log(`${stamp(recorder.now())}  ${text}\n`);
  scheduler.on('batch:started', ({ type }) => {
    const batch = recorder.latestBatch(type);
    say(batchStarted(batch));
    batchBars.set(batch, line(`#${batch.n} ${batch.type} on ${batch.device}`, ''));
    refresh();
  });
  scheduler.on('batch:ended', ({ type }) => {
    const batch = recorder.latestBatch(type);
    say(batchEnded(batch));
    multibar.remove(batchBars.get(batch));
    batchBars.delete(batch);
  });
  scheduler.on('task:failed', (result) => say(taskFailed(result)));

  function refresh() {
    const snapshot = recorder.sample();
    overall.update(recorder.finished, { detail: `${recorder.finished}/${total} done  ${(recorder.now() / 1000).toFixed(1)} s` });
    queues.update(0, { detail: queueDepths(snapshot) });
    for (const d of snapshot.devices) {
      devices.get(d.id).update(Number.isFinite(d.vramGb) ? d.reservedGb : 0, { detail: `${gb(d.reservedGb)}/${gb(d.vramGb)} GB` });
    }
    for (const [batch, bar] of batchBars) {
      const queued = snapshot.queues[batch.type] ?? 0;
      const state = batch.inFlight > 0 ? `${batch.inFlight} running, ${queued} queued` : 'warm, idle (model loaded)';
      bar.setTotal(Math.max(1, batch.done + batch.inFlight + queued));
      bar.update(batch.done, { detail: `${batch.done} done, ${state}, lease ${gb(batch.leaseGb)} GB` });
    }
  }

  let timer;
  return {
    log: say,
    start() {
      timer = setInterval(refresh, 100);
    },
    stop() {
      clearInterval(timer);
      refresh();
      multibar.stop();
    },
  };
}
