// Records what the scheduler does, from its public events and snapshot(): every batch (when it
// held its lease, when it had tasks in flight, when each task started and whether it failed), every task's times and
// priority, and each device's reserved VRAM whenever a sample sees it change. The live view
// reads it while the demo runs; the summary and the chart read it at the end.

export class Recorder {
  /** @param {import('vram-scheduler').Scheduler} scheduler */
  constructor(scheduler) {
    this.scheduler = scheduler;
    this.t0 = performance.now();
    /** @type {import('./chart/index.mjs').RecordedBatch[]} */
    this.batches = [];
    /** The running batch of each type (one at a time per type). */
    this.live = new Map();
    /** Per task id: type, priority, start and end (ms since t0), its batch, whether it is in flight. */
    this.tasks = new Map();
    this.freeLane = [];
    this.vram = new Map(scheduler.snapshot().devices.map((d) => [d.id, []]));
    this.finished = 0;
    this.waiters = [];

    scheduler.on('task:queued', ({ id, type, priority }) => {
      if (!this.tasks.has(id)) this.tasks.set(id, { type, priority, inFlight: false });
    });
    scheduler.on('batch:started', ({ type, device, vramGb }) => {
      const batch = { n: this.batches.length + 1, type, device, leaseGb: vramGb, startMs: this.now(), endMs: Number.NaN, tasks: 0, busy: [], taskStarts: [], inFlight: 0, done: 0 };
      this.batches.push(batch);
      this.live.set(type, batch);
      this.sample();
    });
    scheduler.on('task:started', ({ id, type, device }) => this.taskStarted(id, type, device));
    scheduler.on('task:succeeded', (result) => this.taskEnded(result.id, result.status));
    scheduler.on('task:failed', (result) => this.taskEnded(result.id, result.status));
    scheduler.on('task:cancelled', (result) => this.taskEnded(result.id, result.status));
    scheduler.on('task:retrying', ({ id }) => this.attemptEnded(this.tasks.get(id)));
    scheduler.on('batch:ended', ({ type, tasks, reason }) => {
      const batch = this.live.get(type);
      if (!batch) return;
      this.live.delete(type);
      Object.assign(batch, { endMs: this.now(), tasks, reason });
      const open = batch.busy.at(-1);
      if (open && Number.isNaN(open[1])) open[1] = batch.endMs;
      this.sample();
    });
  }

  /** Milliseconds since the recorder was made. */
  now() {
    return performance.now() - this.t0;
  }

  /** Takes a snapshot, records each device's reserved VRAM if it changed, and returns the snapshot. */
  sample() {
    const snapshot = this.scheduler.snapshot();
    const atMs = this.now();
    for (const { id, reservedGb } of snapshot.devices) {
      const samples = this.vram.get(id);
      if (samples.at(-1)?.reservedGb !== reservedGb) samples.push({ atMs, reservedGb });
    }
    return snapshot;
  }

  /**
   * The latest batch of `type` to start. The views' listeners run after this recorder's, so
   * during batch:started it is the batch starting and during batch:ended the batch ending.
   */
  latestBatch(type) {
    return this.batches.findLast((b) => b.type === type);
  }

  /** Resolves once `count` tasks have ended (succeeded, failed or cancelled). */
  whenFinished(count) {
    return this.finished >= count ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  taskStarted(id, type, device) {
    const task = this.tasks.get(id) ?? { type, priority: 'normal' };
    this.tasks.set(id, task);
    Object.assign(task, { startMs: this.now(), inFlight: true });
    const batch = device === undefined ? undefined : this.live.get(type);
    task.batch = batch;
    if (!batch) return;
    task.mark = { atMs: task.startMs, ok: true }; // ok until it fails
    batch.taskStarts.push(task.mark);
    if (batch.inFlight++ === 0) batch.busy.push([task.startMs, Number.NaN]);
    this.sample(); // a task's own VRAM need may have grown the lease
  }

  taskEnded(id, status) {
    const task = this.tasks.get(id);
    if (!task) return;
    const wasRunning = task.inFlight;
    this.attemptEnded(task);
    task.endMs = this.now();
    if (wasRunning && !task.batch) this.freeLane.push({ type: task.type, startMs: task.startMs, endMs: task.endMs, ok: status === 'succeeded' });
    if (task.mark) task.mark.ok = status === 'succeeded';
    if (task.batch) task.batch.done++;
    this.finished++;
    this.waiters = this.waiters.filter((w) => (this.finished >= w.count ? (w.resolve(), false) : true));
    this.sample();
  }

  /** A task's attempt left its thread: its batch may have gone idle (warm). */
  attemptEnded(task) {
    if (!task?.inFlight) return;
    task.inFlight = false;
    const batch = task.batch;
    // A task's outcome event can come after its batch's end: the interval was closed there.
    if (batch && --batch.inFlight === 0 && Number.isNaN(batch.busy.at(-1)[1])) batch.busy.at(-1)[1] = this.now();
  }

  /** The recording as plain data, for the chart (and demo-output/timeline.json). */
  timeline({ title, types, devices, endMs = this.now() }) {
    return {
      title,
      endMs,
      types,
      devices,
      batches: this.batches.map(({ n, type, device, leaseGb, startMs, endMs: end, tasks, busy, taskStarts, reason }) => ({
        n, type, device, leaseGb, startMs, endMs: Number.isNaN(end) ? endMs : end, tasks, busy: busy.map(([from, to]) => [from, Number.isNaN(to) ? endMs : to]), taskStarts: taskStarts.map((mark) => ({ ...mark })), reason,
      })),
      vram: Object.fromEntries(this.vram),
      freeLane: this.freeLane,
    };
  }
}
