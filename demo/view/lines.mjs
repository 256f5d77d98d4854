// The live view without a terminal (CI, a pipe, --plain): a line per batch start and end and per
// failed task as they happen, and a status line every second.
import { batchEnded, batchStarted, queueDepths, reservedVram, stamp, taskFailed } from './words.mjs';

export function linesView({ scheduler, recorder, total, write = (line) => process.stdout.write(`${line}\n`) }) {
  const say = (text) => write(`${stamp(recorder.now())}  ${text}`);
  scheduler.on('batch:started', ({ type }) => say(batchStarted(recorder.latestBatch(type))));
  scheduler.on('batch:ended', ({ type }) => say(batchEnded(recorder.latestBatch(type))));
  scheduler.on('task:failed', (result) => say(taskFailed(result)));
  const status = () => {
    const snapshot = recorder.sample();
    say(`done ${recorder.finished}/${total} | queued ${queueDepths(snapshot)} | VRAM ${reservedVram(snapshot)}`);
  };
  let timer;
  return {
    log: say,
    start() {
      timer = setInterval(status, 1000);
    },
    stop() {
      clearInterval(timer);
      status();
    },
  };
}
