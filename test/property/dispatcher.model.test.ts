/**
 * Model-based: fc.commands over submit (with per-task VRAM overrides, priorities, ctx.vram.tryGrow,
 * time limits) / finish / fail / crash / cancel (queued or running, handler obeying ctx.signal or
 * not) / restart, run against the REAL scheduler (simulated devices, worker threads, LMDB) with
 * test/fixtures/gated-outcome-handler.mjs, so the test decides when and how each task ends. A small reference model follows along; after
 * every command the test waits, on events only, until the scheduler has nothing left to do, and
 * checks the promises of DESIGN.md:
 *
 *   1. no over-reservation: reserved ≤ capacity on every device at every event; once settled,
 *      reserved = the sum of the live batch leases
 *   2. covered: every running task runs on its type's batch device, under a lease ≥ its need
 *      (and reserved = batch leases + what running tasks grew through ctx.vram)
 *   3. FIFO: within a type, no task is claimed (task:started: stored as running, before a thread
 *      takes it) while an older one of the same or a more urgent priority is still queued; a batch
 *      at rest holds claimed tasks only behind ones the test holds, one in each of its threads
 *   4. nothing lost, nothing twice: every acknowledged task ends exactly once, as the test ended
 *      it; none starts twice; results survive a restart (close + reopen on the same dataDir)
 *   5. no deadlock: once settled, no type without a batch fits in the free VRAM (else the
 *      settle watchdog fails with "no progress")
 *   6. leases return: idle ⇒ reserved 0 and no batch (with keepAlive: only warm batches, holding their
 *      leases, and 0 after close()), also after crashes, cancels and timeouts; a waiting type that
 *      would fit once warm batches are evicted must start (no warm batch blocks anyone)
 *   7/8. refused submits (BUDGET_EXCEEDS_DEVICES, QUEUE_FULL) write nothing
 *   9. preemption (`preemption: true`, some types preemptible; the handler checkpoints or ignores the
 *      abort as the submit says): only a preemptible type's batch is preempted, only while a queued
 *      critical/high task of another type is more urgent than every task that batch ran; its tasks go
 *      back to queued (FIFO above: ahead of later ones), run again with their last checkpoint as
 *      ctx.resumeFrom, count it in `preemptions` (not in attempts) and still end exactly once
 *   and the dispatch rule: every set of batches started in one dispatch is what the reference
 *   rule (most urgent priority, then deepest queue, then oldest head; best-fit device) picks from
 *   the types waiting at that moment, so with equal priorities the deepest fitting queue wins.
 *   (Where a warm batch may be evicted, least recently used first, the model cannot see that order:
 *   there it checks only that each start was a waiting type under the lease its head needs.)
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createScheduler, PRIORITIES, type Priority, type Scheduler, type SchedulerOptions, type SchedulerSnapshot } from 'vram-scheduler';
import { runs } from '../support/fast-check-setup.js';
import { OutcomeGate, type GateStart, type Outcome } from '../support/outcome-gate.js';
import { fixture, silent, tempDir } from '../support/scheduler.js';

const RANK: Record<Priority, number> = { critical: 0, high: 1, normal: 2, low: 3 };
/** How the test ends a task: a release with an outcome, cancel(), or its own time limit. */
type End = Outcome | 'cancel' | 'timeout';
const EXPECTED_END: Record<End, { status: 'succeeded' | 'failed' | 'cancelled'; code?: string }> = {
  succeed: { status: 'succeeded' },
  throw: { status: 'failed', code: 'HANDLER_ERROR' },
  exit: { status: 'failed', code: 'WORKER_CRASHED' },
  cancel: { status: 'cancelled', code: 'CANCELLED' },
  timeout: { status: 'failed', code: 'TIMEOUT' },
};
/** A task submitted with a time limit is never released by the test: it always ends by TIMEOUT. */
const TIMEOUT_MS = 100;
/** How long a cancelled or timed-out handler that ignores ctx.signal may keep its thread. */
const CANCEL_GRACE_MS = 30;
const mib = (gb: number): number => Math.round(gb * 1024);
/** How long a settle may go without reaching a fixpoint before the property fails with "no progress". */
const SETTLE_LIMIT_MS = 15_000;

interface World {
  devices: { id: string; vramGb: number }[];
  /** `threads`: the type's threads, each with a copy of the model (a batch reserves threads × the need). */
  types: { name: string; vramGb: number; preemptible: boolean; threads: number }[];
  /** The scheduler's `preemption` option. */
  preemption: boolean;
  maxQueueDepth: number;
  /** Batches stay warm (model loaded, lease held) once their queue is empty, for longer than any run. */
  keepAlive: boolean;
}

/** keepAliveMs of every type in a keepAlive world: no batch expires while the test runs. */
const KEEP_ALIVE_MS = 600_000;

interface ModelTask {
  id: string;
  tag: string;
  type: string;
  priority: Priority;
  /** Acknowledgement order in the model. */
  ack: number;
  needMiB: number;
  /**
   * claimed: task:started seen (stored as running: its lane may claim it ahead of its threads), its
   * handler not started yet. preempting: its batch was preempted while it was claimed or the test
   * still held it; task:preempted must requeue it.
   */
  status: 'queued' | 'claimed' | 'running' | 'ending' | 'preempting' | 'ended';
  device?: string;
  outcome?: End;
  /** Submitted with timeoutMs: ends by TIMEOUT, never by the test. */
  timed: boolean;
  /** Its handler succeeds as soon as it starts. Such runs make its type claim later tasks ahead of its thread. */
  quick: boolean;
  /** MiB its handler asked ctx.vram.tryGrow() for, and what it got (0 until it runs, or when refused). */
  growMiB: number;
  extraMiB: number;
  /** Terminal events seen for this id, across restarts. */
  ends: number;
  /** task:started events seen for this id, across restarts. */
  starts: number;
  /** task:preempted events seen, and how many of them had a checkpoint (the handler's `n`). */
  preemptions: number;
  checkpoints: number;
  /**
   * Preempted while claimed: the run it stopped may have reached its handler (that start message
   * is still on its way) or been withdrawn before a thread took it (no message comes; its next
   * claim tells).
   */
  startInFlight: boolean;
  /** model.clock when it last left the queue (claimed or ended there). */
  leftQueueAt: number;
}

interface WaitingType {
  type: string;
  depth: number;
  rank: number;
  headAck: number;
  needMiB: number;
}

interface Start {
  type: string;
  device: string;
  mib: number;
}

class Model {
  readonly tasks = new Map<string, ModelTask>();
  readonly byTag = new Map<string, ModelTask>();
  /** Type → its live batch, from batch:started / batch:ended; bestRank: the most urgent task it started. */
  readonly batches = new Map<string, { device: string; bestRank: number; since: number }>();
  /** Counts batch starts and tasks leaving the queue: orders them. */
  clock = 0;
  readonly violations: string[] = [];
  acks = 0;
  restarts = 0;
  /** The final phase: every task that starts is released as a success. */
  auto = false;
  stopped = false;
  private listeners: (() => void)[] = [];

  constructor(readonly world: World) {}

  changed(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  notify(): void {
    for (const listener of this.listeners.splice(0)) listener();
  }

  violation(message: string): void {
    if (this.stopped) return; // tearing down after a failure: what follows is noise
    this.violations.push(message);
    this.notify();
  }

  inStatus(...statuses: ModelTask['status'][]): ModelTask[] {
    return [...this.tasks.values()].filter((t) => statuses.includes(t.status)).sort((a, b) => a.ack - b.ack);
  }

  /**
   * Queued tasks of `type` in the order they must start: most urgent priority first, FIFO within
   * one. A preempted task is back in line before its batch ends (task:preempted follows its commit).
   */
  queue(type: string): ModelTask[] {
    return this.inStatus('queued', 'preempting')
      .filter((t) => t.type === type)
      .sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.ack - b.ack);
  }

  /** Whether a live batch may be warm now: keepAlive, and no task of its type is claimed or held running by the test. */
  mayHoldWarm(): boolean {
    if (!this.world.keepAlive) return false;
    const busy = new Set(this.inStatus('running', 'claimed').map((t) => t.type));
    return [...this.batches.keys()].some((type) => !busy.has(type));
  }

  /** Types with queued tasks and no batch, as the dispatch rule sees them. */
  waiting(): WaitingType[] {
    const waiting: WaitingType[] = [];
    for (const { name } of this.world.types) {
      const queue = this.queue(name);
      if (queue.length === 0 || this.batches.has(name)) continue;
      const head = queue[0]!;
      waiting.push({ type: name, depth: queue.length, rank: RANK[head.priority], headAck: head.ack, needMiB: head.needMiB });
    }
    return waiting;
  }
}

/** The reference rule, written from the README: priority, then depth, then oldest head; best-fit device. */
function referenceRound(waiting: readonly WaitingType[], freeMiB: number[], deviceIds: readonly string[]): Start[] {
  const free = [...freeMiB];
  const starts: Start[] = [];
  const ranked = [...waiting].sort((a, b) => a.rank - b.rank || b.depth - a.depth || a.headAck - b.headAck);
  for (const w of ranked) {
    let best = -1;
    for (let d = 0; d < free.length; d++) {
      if (free[d]! >= w.needMiB && (best === -1 || free[d]! < free[best]!)) best = d;
    }
    if (best === -1) continue;
    free[best]! -= w.needMiB;
    starts.push({ type: w.type, device: deviceIds[best]!, mib: w.needMiB });
  }
  return starts;
}

interface Real {
  scheduler: Scheduler;
  dataDir: string;
  gate: OutcomeGate;
  /** The submit in flight: task:queued binds its id to the model. */
  submitting: ModelTask | undefined;
}

function options(world: World, dataDir: string): SchedulerOptions {
  const handler = fixture('gated-outcome-handler.mjs');
  return {
    dataDir,
    logger: silent,
    devices: world.devices,
    maxQueueDepth: world.maxQueueDepth,
    // The reference rule here is the timeless one: no aging, no head-of-line hold, no quantum.
    agingMs: 0,
    starvationMs: 0,
    quantumMs: 0,
    cancelGraceMs: CANCEL_GRACE_MS,
    preemption: world.preemption,
    types: Object.fromEntries(world.types.map((t) => [t.name, { handler, vramGb: t.vramGb, preemptible: t.preemptible, threads: t.threads, keepAliveMs: world.keepAlive ? KEEP_ALIVE_MS : 0 }])),
  };
}

const describeStart = (s: Start) => `${s.type}@${s.device}:${s.mib}`;

/** Wires the scheduler's events and the gate into the model; every observation is checked as it arrives. */
function observe(model: Model, real: Real): void {
  const s = real.scheduler;
  const deviceIds = model.world.devices.map((d) => d.id);
  let round: { reservedMiB: number[]; waiting: WaitingType[]; depths: Record<string, number>; starts: Start[]; mayEvict: boolean } | undefined;

  const checkCapacity = (when: string): void => {
    for (const d of s.snapshot().devices) {
      if (mib(d.reservedGb) > mib(d.vramGb)) model.violation(`over-reservation at ${when}: ${d.id} holds ${d.reservedGb} of ${d.vramGb} GB`);
    }
  };

  /** All batches started in one dispatch arrive in one synchronous block: checked together once it ends. */
  const checkRound = (r: NonNullable<typeof round>): void => {
    const free = model.world.devices.map((d, i) => mib(d.vramGb) - r.reservedMiB[i]!);
    for (const start of r.starts) free[deviceIds.indexOf(start.device)]! += start.mib; // the VRAM before this dispatch
    for (const w of r.waiting) {
      // A started batch has already taken its first task by the time batch:started is emitted: compare the others only.
      if (r.starts.some((s) => s.type === w.type)) continue;
      if (r.depths[w.type] !== w.depth) model.violation(`queue of ${w.type} holds ${r.depths[w.type]} tasks, the model ${w.depth}`);
    }
    if (r.mayEvict) {
      // A warm batch may be evicted in this dispatch, in an order (least recently used) the model does not see:
      // check only that every start was a waiting type, under a lease of its head's need.
      for (const start of r.starts) {
        const w = r.waiting.find((x) => x.type === start.type);
        if (w?.needMiB !== start.mib) model.violation(`dispatch started ${describeStart(start)}, which was not waiting for ${start.mib} MiB (waiting ${JSON.stringify(r.waiting)})`);
      }
      return;
    }
    const expected = referenceRound(r.waiting, free, deviceIds);
    if (JSON.stringify(expected) !== JSON.stringify(r.starts)) {
      model.violation(
        `dispatch started [${r.starts.map(describeStart).join(', ')}] but the rule says [${expected.map(describeStart).join(', ')}] ` +
          `(waiting ${JSON.stringify(r.waiting)}, free MiB ${JSON.stringify(free)})`,
      );
    }
  };

  const batchStarted = (start: Start, depths: () => Record<string, number>): void => {
    if (!round) {
      const snapshot = s.snapshot(); // the ledger already holds every lease of this dispatch; only the started types have taken tasks
      const current = { reservedMiB: snapshot.devices.map((d) => mib(d.reservedGb)), waiting: model.waiting(), depths: depths(), starts: [] as Start[], mayEvict: model.mayHoldWarm() };
      round = current;
      queueMicrotask(() => {
        round = undefined;
        checkRound(current);
      });
    }
    if (model.batches.has(start.type)) model.violation(`a second batch of ${start.type} started while one lives`);
    model.batches.set(start.type, { device: start.device, bestRank: Number.POSITIVE_INFINITY, since: ++model.clock });
    round.starts.push(start);
  };

  // A restarted scheduler may have dispatched its recovered queue before these listeners exist: take that round from the snapshot.
  const initial = s.snapshot();
  if (initial.batches.length > 0) {
    for (const b of initial.batches) batchStarted({ type: b.type, device: b.device, mib: mib(b.vramGb) }, () => Object.fromEntries(model.world.types.map((t) => [t.name, model.queue(t.name).length])));
  }

  s.on('task:queued', (e) => {
    const task = real.submitting;
    if (!task || task.id !== '') return model.violation(`task:queued for ${e.id} that no submit is waiting for`);
    task.id = e.id;
    task.ack = ++model.acks;
    model.tasks.set(e.id, task);
    model.byTag.set(task.tag, task);
    if (e.type !== task.type || e.priority !== task.priority) model.violation(`task:queued ${JSON.stringify(e)} does not match the submit of ${task.tag}`);
  });
  s.on('task:started', (e) => {
    const task = model.tasks.get(e.id);
    if (!task) return model.violation(`task:started for unknown ${e.id}`);
    if (++task.starts > 1 + task.preemptions) model.violation(`${task.tag} started ${task.starts} times, preempted ${task.preemptions}`);
    checkCapacity(`task:started ${task.tag}`);
    if (task.status !== 'queued') return; // cancelled or timed out while its claim committed
    // Claimed: stored as running, so this is where the dispatch order shows.
    for (const other of model.queue(task.type)) {
      if (other !== task && (RANK[other.priority] < RANK[task.priority] || (other.priority === task.priority && other.ack < task.ack))) {
        model.violation(`FIFO: ${task.tag} (${task.priority}, ack ${task.ack}) started before ${other.tag} (${other.priority}, ack ${other.ack}) of ${task.type}`);
      }
    }
    const batch = model.batches.get(task.type);
    if (batch) batch.bestRank = Math.min(batch.bestRank, RANK[task.priority]);
    // Preempted while claimed, and no start message came before this claim: that run never reached a thread.
    task.startInFlight = false;
    task.status = 'claimed';
    task.leftQueueAt = ++model.clock;
    model.notify();
  });
  const ended = (result: { id: string; status: string; error?: { code: string } }): void => {
    const task = model.tasks.get(result.id);
    if (!task) return model.violation(`terminal event for unknown ${result.id}`);
    if (++task.ends > 1) model.violation(`${task.tag} ended ${task.ends} times`);
    // A timed task may run out of time before its handler starts (its clock starts when the batch takes it).
    const timedOutEarly = task.timed && (task.status === 'queued' || task.status === 'claimed') && result.error?.code === 'TIMEOUT';
    // A quick task may end before its start message arrives (also when its batch was preempted after a thread took it: it keeps its result).
    const quickFinished = task.quick && (task.status === 'claimed' || task.status === 'preempting') && result.status === 'succeeded';
    if (quickFinished) {
      task.outcome = 'succeed';
      task.startInFlight = true;
    }
    if (timedOutEarly) {
      task.outcome = 'timeout';
      task.leftQueueAt = ++model.clock;
    }
    else if (task.status !== 'ending' && !quickFinished) model.violation(`${task.tag} ended (${result.status} ${result.error?.code}) while the model had it ${task.status}`);
    const expected = EXPECTED_END[task.outcome ?? 'succeed'];
    if (result.status !== expected.status || result.error?.code !== expected.code) {
      model.violation(`${task.tag} ended ${result.status} ${result.error?.code}, expected ${expected.status} ${expected.code}`);
    }
    task.status = 'ended';
    checkCapacity(`end of ${task.tag}`);
    model.notify();
  };
  s.on('task:succeeded', ended);
  s.on('task:failed', ended);
  s.on('task:cancelled', ended);
  s.on('task:preempted', (e) => {
    const task = model.tasks.get(e.id);
    if (!task) return model.violation(`task:preempted for unknown ${e.id}`);
    if (!model.world.preemption || !model.world.types.find((t) => t.name === task.type)!.preemptible) model.violation(`${task.tag} of ${task.type} was preempted (preemption ${model.world.preemption}, type not preemptible)`);
    // A task the test released may be preempted before its handler sees the release; a cancelled one may not.
    // Claimed: its claim committed after batch:ended marked its batch's tasks (its start message may yet come, or never).
    if (task.status === 'claimed') task.startInFlight = true;
    else if (task.status === 'ended' || task.outcome === 'cancel') model.violation(`${task.tag} was preempted while ${task.status} (${task.outcome})`);
    task.status = 'queued';
    task.outcome = undefined;
    task.device = undefined;
    task.extraMiB = 0;
    task.preemptions++;
    if (e.checkpointed) task.checkpoints++;
    model.notify();
  });
  s.on('batch:started', (e) => {
    batchStarted({ type: e.type, device: e.device, mib: mib(e.vramGb) }, () => s.snapshot().queues);
    checkCapacity(`batch:started ${e.type}`);
    model.notify();
  });
  s.on('batch:ended', (e) => {
    if (model.batches.get(e.type)?.device !== e.device) model.violation(`batch:ended ${e.type}@${e.device} that the model does not know`);
    if (e.reason === 'idle') model.violation(`batch ${e.type} expired, but keepAliveMs outlasts the test`);
    if (e.reason === 'evicted' && model.queue(e.type).length > 0) model.violation(`batch ${e.type} was evicted while tasks of its type were queued`);
    const batch = model.batches.get(e.type);
    model.batches.delete(e.type);
    if (e.reason === 'preempted') {
      if (!model.world.preemption || !model.world.types.find((t) => t.name === e.type)!.preemptible) model.violation(`batch ${e.type} was preempted (preemption ${model.world.preemption}, type not preemptible)`);
      const bestRank = batch?.bestRank ?? Number.POSITIVE_INFINITY;
      // The urgent task may have started meanwhile (room came back some other way): queued at some point while the batch lived.
      const waited = (t: ModelTask) => t.status === 'queued' || t.leftQueueAt > batch!.since;
      const urgent = [...model.tasks.values()].some((t) => t.type !== e.type && RANK[t.priority] <= RANK.high && RANK[t.priority] < bestRank && waited(t));
      if (!urgent) model.violation(`batch ${e.type} (most urgent task rank ${bestRank}) was preempted while no more urgent critical/high task of another type waited`);
      // Tasks it still ran (the test never released them) stop and go back in line: task:preempted follows.
      for (const t of model.inStatus('running')) if (t.type === e.type) t.status = 'preempting';
      // So do the tasks it claimed: withdrawn from its board, or stopped if a thread took them meanwhile.
      for (const t of model.inStatus('claimed')) {
        if (t.type !== e.type) continue;
        t.status = 'preempting';
        t.startInFlight = true;
      }
    } else if (model.inStatus('running', 'claimed').some((t) => t.type === e.type)) model.violation(`batch ${e.type} ended with a task of it still running`);
    checkCapacity(`batch:ended ${e.type}`);
    model.notify();
  });

  real.gate.onStart = (start: GateStart) => {
    const task = model.byTag.get(start.started);
    if (!task) return model.violation(`handler started unknown tag ${start.started}`);
    if (task.timed && task.status === 'ended' && task.outcome === 'timeout') return; // its start message lost the race with its time limit
    if (task.startInFlight) {
      task.startInFlight = false; // the start of a run that task:preempted already ended
      return;
    }
    const resumeFrom = task.checkpoints === 0 ? null : { tag: task.tag, n: task.checkpoints };
    if (JSON.stringify(start.resumeFrom) !== JSON.stringify(resumeFrom)) model.violation(`${task.tag} resumed from ${JSON.stringify(start.resumeFrom)}, expected ${JSON.stringify(resumeFrom)}`);
    // task:started (its claim) comes first, on the main thread, before any thread can take it.
    if (task.status !== 'claimed') model.violation(`${task.tag} started while ${task.status}: ${task.status === 'queued' ? 'its claim was never reported' : 'it runs twice'}`);
    const batch = model.batches.get(task.type);
    if (batch?.device !== start.device) model.violation(`${task.tag} runs on ${start.device}, its type's batch is on ${batch?.device}`);
    task.status = 'running';
    task.device = start.device ?? undefined;
    if (start.grew === true) task.extraMiB = task.growMiB;
    if (task.timed) {
      task.status = 'ending';
      task.outcome = 'timeout';
    } else if (task.quick) {
      task.status = 'ending';
      task.outcome = 'succeed';
    } else if (model.auto) {
      task.status = 'ending';
      task.outcome = 'succeed';
      real.gate.release(task.tag, 'succeed');
    }
    model.notify();
  };
}

/** Why the scheduler is not yet at rest (undefined when it is): something it must still do, from the model's view. */
function unsettled(model: Model, snapshot: SchedulerSnapshot): string | undefined {
  const ending = model.inStatus('ending');
  if (ending.length > 0) return `waiting for ${ending.map((t) => t.tag).join(', ')} to end`;
  const preempting = model.inStatus('preempting');
  if (preempting.length > 0) return `waiting for preempted ${preempting.map((t) => t.tag).join(', ')} to be queued again`;
  const running = model.inStatus('running');
  for (const b of snapshot.batches) {
    const held = running.filter((t) => t.type === b.type).length;
    const idle = model.queue(b.type).length === 0 && held === 0;
    // With preemption off (and no quantum here) a batch finishes early only when blocked: its next task needs VRAM it cannot
    // grow to. With every task in flight one the test holds, it waits for the test.
    const finishingHeld = !model.world.preemption && b.state === 'finishing' && held > 0 && b.running === held;
    if (b.state !== 'running' && !(b.state === 'warm' && idle) && !finishingHeld) return `batch ${b.type} is ${b.state}`;
  }
  const claimed = model.inStatus('claimed');
  for (const b of snapshot.batches) {
    const started = running.filter((t) => t.type === b.type).length;
    const waiting = claimed.filter((t) => t.type === b.type).length;
    if (b.running !== started + waiting) return `batch ${b.type} has ${b.running} in flight, ${started} started and ${waiting} claimed`;
    // A claimed task waits for nothing but a free thread: at rest only while the test holds a task in each of the batch's threads (one seat each here).
    const threads = model.world.types.find((t) => t.name === b.type)!.threads;
    if (waiting > 0 && started < threads) return `batch ${b.type} has ${waiting} claimed and ${started} started in its ${threads} threads`;
  }
  for (const { name } of model.world.types) {
    if (snapshot.queues[name] !== model.queue(name).length) return `queue ${name} holds ${snapshot.queues[name]}, the model ${model.queue(name).length}`;
  }
  // Free VRAM, and what evicting every warm batch on the device would add: a waiting type that fits either way must start.
  const free = snapshot.devices.map((d) => mib(d.vramGb) - mib(d.reservedGb));
  const evictable = snapshot.devices.map((d) => snapshot.batches.filter((b) => b.state === 'warm' && b.device === d.id).reduce((sum, b) => sum + mib(b.vramGb), 0));
  for (const w of model.waiting()) {
    if (snapshot.batches.some((b) => b.type === w.type)) continue;
    if (free.some((f) => f >= w.needMiB)) return `${w.type} (head needs ${w.needMiB} MiB) fits in ${JSON.stringify(free)} MiB but has not started`;
    if (free.some((f, d) => f + evictable[d]! >= w.needMiB)) return `${w.type} (head needs ${w.needMiB} MiB) fits once warm batches are evicted, but has not started`;
  }
  return undefined;
}

/** Waits, on events only, until the scheduler is at rest; a watchdog turns a stall into a failure that says why. */
async function settle(model: Model, real: Real, after: string): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  for (;;) {
    await new Promise((resolve) => setImmediate(resolve)); // let the synchronous transition in progress finish
    if (model.violations.length > 0) break;
    const reason = unsettled(model, real.scheduler.snapshot());
    if (reason === undefined) break;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no progress after ${after}: ${reason}\n${JSON.stringify(real.scheduler.snapshot())}`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([model.changed(), new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
    clearTimeout(timer);
  }
  checkSettled(model, real.scheduler.snapshot(), after);
}

/** The promises, on a scheduler at rest. */
function checkSettled(model: Model, snapshot: SchedulerSnapshot, after: string): void {
  expect([...model.violations], `after ${after}`).toEqual([]);
  const leases = new Map<string, number>();
  for (const b of snapshot.batches) leases.set(b.device, (leases.get(b.device) ?? 0) + mib(b.vramGb));
  for (const t of model.inStatus('running')) if (t.extraMiB > 0) leases.set(t.device!, (leases.get(t.device!) ?? 0) + t.extraMiB); // grown by ctx.vram
  for (const d of snapshot.devices) {
    expect(mib(d.reservedGb), `${d.id} reserved ≤ capacity after ${after}`).toBeLessThanOrEqual(mib(d.vramGb));
    expect(mib(d.reservedGb), `${d.id} reserved = its batch leases + what running tasks grew, after ${after}`).toBe(leases.get(d.id) ?? 0);
  }
  expect(
    snapshot.batches.map((b) => `${b.type}@${b.device}`).sort(),
    `live batches after ${after}`,
  ).toEqual([...model.batches].map(([type, b]) => `${type}@${b.device}`).sort());
  const running = model.inStatus('running');
  for (const task of running) {
    const batch = snapshot.batches.find((b) => b.type === task.type);
    expect(batch?.device, `${task.tag} runs on its batch's device`).toBe(task.device);
    expect(mib(batch!.vramGb), `${task.tag} is covered by its batch lease`).toBeGreaterThanOrEqual(task.needMiB);
  }
  if (running.length === 0 && model.inStatus('queued').length === 0) {
    if (model.world.keepAlive) {
      // Idle with warm models: only warm batches hold VRAM (their leases, checked above).
      expect(snapshot.batches.filter((b) => b.state !== 'warm'), `idle after ${after}: every batch is warm`).toEqual([]);
    } else {
      expect(snapshot.batches, `idle after ${after}: no batch`).toEqual([]);
      for (const d of snapshot.devices) expect(d.reservedGb, `idle after ${after}: ${d.id} holds nothing`).toBe(0);
    }
  }
}

let tags = 0;

interface SubmitItem {
  typeIndex: number;
  priority: Priority;
  vramGb: number | undefined;
  /** ctx.vram.tryGrow() at start, in GB. */
  growGb: number | undefined;
  /** Submitted with timeoutMs (TIMEOUT_MS). */
  timed: boolean;
  /** The handler succeeds at once (never with `timed`). */
  quick: boolean;
  /** The handler ignores ctx.signal: a cancel, timeout or preemption has to terminate its thread. */
  ignoreAbort: boolean;
  /** Preempted, the handler saves a checkpoint first. */
  checkpoint: boolean;
}

/** 1–3 submits in a row (each awaited and settled), so queues build up behind busy devices. */
class SubmitCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly items: readonly SubmitItem[]) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    for (const item of this.items) await this.submit(model, real, item);
  }
  private async submit(model: Model, real: Real, { typeIndex, priority, vramGb, growGb, timed, quick, ignoreAbort, checkpoint }: SubmitItem): Promise<void> {
    const type = model.world.types[typeIndex % model.world.types.length]!;
    const needMiB = type.threads * Math.max(mib(type.vramGb), vramGb === undefined ? 0 : mib(vramGb));
    const largest = Math.max(...model.world.devices.map((d) => mib(d.vramGb)));
    const refusal = needMiB > largest ? 'BUDGET_EXCEEDS_DEVICES' : model.queue(type.name).length >= model.world.maxQueueDepth ? 'QUEUE_FULL' : undefined;
    const growMiB = growGb === undefined ? 0 : mib(growGb);
    const task: ModelTask = { id: '', tag: `t${++tags}`, type: type.name, priority, ack: 0, needMiB, status: 'queued', ends: 0, starts: 0, timed, quick, growMiB, extraMiB: 0, preemptions: 0, checkpoints: 0, startInFlight: false, leftQueueAt: 0 };
    real.submitting = task;
    const options = { priority, ...(vramGb === undefined ? {} : { vramGb }), ...(timed ? { timeoutMs: TIMEOUT_MS } : {}) };
    const payload = { tag: task.tag, ...(growGb === undefined ? {} : { growGb }), ...(quick ? { quick } : {}), ...(ignoreAbort ? { ignoreAbort } : {}), ...(checkpoint ? { checkpoint } : {}) };
    const outcome = await real.scheduler.submit(type.name, payload, options).catch((error: unknown) => error);
    real.submitting = undefined;
    if (refusal) {
      expect(outcome, `${task.tag} is refused`).toMatchObject({ code: refusal });
      expect(model.byTag.has(task.tag), 'a refused submit is never queued').toBe(false);
    } else {
      expect(outcome, `${task.tag} is acknowledged`).toEqual({ id: task.id, isNew: true });
    }
    await settle(model, real, `submit of ${task.tag} in ${this}`);
  }
  toString = (): string =>
    `submit(${this.items
      .map(
        ({ typeIndex, priority, vramGb, growGb, timed, quick, ignoreAbort, checkpoint }) =>
          `${typeIndex} ${priority}${vramGb === undefined ? '' : ` ${vramGb}GB`}${growGb === undefined ? '' : ` grow ${growGb}GB`}${timed ? ' timed' : ''}${quick ? ' quick' : ''}${ignoreAbort ? ' ignoring-abort' : ''}${checkpoint ? ' checkpointing' : ''}`,
      )
      .join('; ')})`;
}

class EndCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly index: number,
    readonly outcome: Outcome,
  ) {}
  check = (model: Readonly<Model>): boolean => (model as Model).inStatus('running').length > 0;
  async run(model: Model, real: Real): Promise<void> {
    const running = model.inStatus('running');
    const task = running[this.index % running.length]!;
    task.status = 'ending';
    task.outcome = this.outcome;
    real.gate.release(task.tag, this.outcome);
    await settle(model, real, `${this} of ${task.tag}`);
  }
  toString = (): string => `${this.outcome}(${this.index})`;
}

/**
 * cancel() of a queued task (it never runs), a claimed one (withdrawn before a thread takes it) or a
 * running one (its handler sees ctx.signal, or its thread is terminated).
 */
class CancelCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly which: 'queued' | 'claimed' | 'running',
    readonly index: number,
  ) {}
  check = (model: Readonly<Model>): boolean => (model as Model).inStatus(this.which).length > 0;
  async run(model: Model, real: Real): Promise<void> {
    const candidates = model.inStatus(this.which);
    const task = candidates[this.index % candidates.length]!;
    task.status = 'ending';
    task.outcome = 'cancel';
    expect(await real.scheduler.cancel(task.id), `cancel(${task.tag}) finds it ${this.which}`).toBe(true);
    await settle(model, real, `${this} of ${task.tag}`);
  }
  toString = (): string => `cancel-${this.which}(${this.index})`;
}

/**
 * close() lets running tasks finish (the test releases them, and those claimed as they start), then a
 * new scheduler opens the same dataDir.
 */
class RestartCommand implements fc.AsyncCommand<Model, Real> {
  check = (model: Readonly<Model>): boolean => model.restarts < 2;
  async run(model: Model, real: Real): Promise<void> {
    model.restarts++;
    const closing = real.scheduler.close();
    for (const task of model.inStatus('running')) {
      task.status = 'ending';
      task.outcome = 'succeed';
      real.gate.release(task.tag, 'succeed');
    }
    model.auto = true;
    await closing;
    model.auto = false;
    real.scheduler.removeAllListeners();
    expect([...model.violations], 'during close').toEqual([]);
    expect(model.inStatus('claimed', 'ending'), 'close waited for the claimed and running tasks').toEqual([]);
    expect(model.batches.size, 'every batch ended before close resolved').toBe(0);

    real.scheduler = await createScheduler(options(model.world, real.dataDir));
    observe(model, real);
    for (const task of model.tasks.values()) {
      const record = await real.scheduler.get(task.id);
      if (task.status === 'queued') expect(record.status, `${task.tag} is still queued after the restart`).toBe('queued');
      else expect(record.status, `${task.tag}'s result survived the restart`).toBe(EXPECTED_END[task.outcome!].status);
    }
    await settle(model, real, 'restart');
  }
  toString = (): string => 'restart';
}

const worldArb: fc.Arbitrary<World> = fc
  .record({
  devices: fc.oneof({ arbitrary: fc.tuple(fc.constantFrom(8, 12, 16, 24)), weight: 2 }, { arbitrary: fc.tuple(fc.constantFrom(8, 12, 16, 24), fc.constantFrom(8, 12, 16, 24)), weight: 1 }).map((sizes) => sizes.map((vramGb, i) => ({ id: `gpu${i}`, vramGb }))),
  types: fc.oneof({ arbitrary: fc.array(fc.constantFrom(3, 5, 6, 8), { minLength: 3, maxLength: 3 }), weight: 2 }, { arbitrary: fc.array(fc.constantFrom(3, 5, 6, 8), { minLength: 2, maxLength: 2 }), weight: 1 }),
  maxQueueDepth: fc.constantFrom(2, 100),
  keepAlive: fc.boolean(),
  preemption: fc.boolean(),
  /** Bit i: type i is preemptible (with preemption off too: then nothing may be interrupted). */
  preemptibleMask: fc.nat(7),
  /** The type that runs two threads (a copy of the model in each), if any: 3 = none. */
  twoThreads: fc.constantFrom(0, 0, 1, 2, 3),
  })
  .map(({ types, preemptibleMask, twoThreads, ...world }) => ({
    ...world,
    types: types.map((vramGb, i) => ({ name: `llm-${'abc'[i]}`, vramGb, preemptible: ((preemptibleMask >> i) & 1) === 1, threads: i === twoThreads ? 2 : 1 })),
  }));

const submitArbWith = (priority: fc.Arbitrary<Priority>) => fc
  .array(
    fc.record({
      typeIndex: fc.nat(2),
      priority,
      vramGb: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.constantFrom(2, 6, 10, 16, 26), weight: 1 }),
      growGb: fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: fc.constantFrom(1, 2, 4), weight: 1 }),
      timed: fc.nat(7).map((n) => n === 0),
      quick: fc.nat(3).map((n) => n === 0),
      ignoreAbort: fc.nat(2).map((n) => n === 0),
      checkpoint: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((items) => new SubmitCommand(items.map((item) => ({ ...item, quick: item.quick && !item.timed }))));
const submitArb = submitArbWith(fc.constantFrom<Priority>('normal', 'normal', 'normal', ...PRIORITIES));
const endArb = fc.tuple(fc.nat(5), fc.constantFrom<Outcome>('succeed', 'succeed', 'throw', 'exit')).map(([index, outcome]) => new EndCommand(index, outcome));
const commandsWith = (submit: typeof submitArb) => fc.commands(
  [
    submit,
    submit,
    submit,
    endArb,
    endArb,
    fc.tuple(fc.constantFrom<'queued' | 'claimed' | 'running'>('queued', 'claimed', 'running'), fc.nat(5)).map(([which, index]) => new CancelCommand(which, index)),
    fc.constant(new RestartCommand()),
  ],
  { maxCommands: 15, size: 'max' },
);
const commandsArb = commandsWith(submitArb);

/**
 * Worlds made for preemption: it is on, every type preemptible, one small card where two types
 * rarely fit side by side; submits where low meets critical often.
 */
const preemptingWorldArb: fc.Arbitrary<World> = fc
  .record({ cardGb: fc.constantFrom(8, 10), types: fc.array(fc.constantFrom(5, 6, 8), { minLength: 2, maxLength: 3 }), keepAlive: fc.boolean() })
  .map(({ cardGb, types, keepAlive }) => ({
    devices: [{ id: 'gpu0', vramGb: cardGb }],
    types: types.map((vramGb, i) => ({ name: `llm-${'abc'[i]}`, vramGb, preemptible: true, threads: 1 })),
    maxQueueDepth: 100,
    keepAlive,
    preemption: true,
  }));
const preemptingCommandsArb = commandsWith(submitArbWith(fc.constantFrom<Priority>('low', 'low', 'critical', 'high')));

/**
 * One quick task per type first: a type's first run sizes how far its batch claims ahead (later
 * runs move that estimate a tenth of the way each), so from here on tasks get claimed behind ones
 * the test holds, and cancels, preemptions and restarts meet claimed tasks.
 */
async function warmUp(model: Model, real: Real): Promise<void> {
  const items = model.world.types.map((_, typeIndex): SubmitItem => ({ typeIndex, priority: 'normal', vramGb: undefined, growGb: undefined, timed: false, quick: true, ignoreAbort: false, checkpoint: false }));
  await new SubmitCommand(items).run(model, real);
}

/** One run: a world and a command sequence against the real scheduler and the model, then drain and close. */
const runAgainstModel = async (world: World, commands: Iterable<fc.AsyncCommand<Model, Real>>): Promise<void> => {
  const model = new Model(world);
  const real: Real = { scheduler: undefined as never, dataDir: tempDir('vs-model-'), gate: new OutcomeGate(), submitting: undefined };
  try {
    real.scheduler = await createScheduler(options(world, real.dataDir));
    observe(model, real);
    await warmUp(model, real);
    await fc.asyncModelRun(() => ({ model, real }), commands);

    // Drain: everything still held or queued runs to success; then every acknowledged task has ended exactly once.
    model.auto = true; // from now on every task that starts is released as a success (timed ones run out of time)
    for (const task of model.inStatus('running')) {
      task.status = 'ending';
      task.outcome = 'succeed';
      real.gate.release(task.tag, 'succeed');
    }
    await real.scheduler.drain();
    await settle(model, real, 'drain');
    for (const task of model.tasks.values()) {
      expect(task.status, `${task.tag} ended`).toBe('ended');
      expect(task.ends, `${task.tag} ended exactly once`).toBe(1);
      const result = await real.scheduler.result(task.id);
      const { status, code } = EXPECTED_END[task.outcome!];
      expect({ status: result?.status, code: result?.error?.code }, `${task.tag}'s stored result`).toEqual({ status, code });
      const record = await real.scheduler.get(task.id);
      expect(record.preemptions ?? 0, `${task.tag}'s preemptions`).toBe(task.preemptions);
    }
    // Warm batches keep their leases after drain(); close() returns every one.
    await real.scheduler.close();
    for (const d of real.scheduler.snapshot().devices) expect(d.reservedGb, `closed: ${d.id} holds nothing`).toBe(0);
    expect([...model.violations], 'during the final close').toEqual([]);
  } finally {
    model.stopped = true;
    real.gate.autoRelease('succeed');
    for (const task of model.inStatus('running')) real.gate.release(task.tag, 'succeed');
    await real.scheduler?.close();
    real.gate.close();
  }
};

it('the real scheduler keeps every promise under any sequence of submit / finish / fail / crash / cancel / timeout / preemption / restart', async () => {
  await fc.assert(fc.asyncProperty(worldArb, commandsArb, runAgainstModel), { numRuns: runs(15) });
}, 300_000);

it('keeps them with preemption on everywhere and urgent tasks meeting low ones', async () => {
  await fc.assert(fc.asyncProperty(preemptingWorldArb, preemptingCommandsArb, runAgainstModel), { numRuns: runs(10) });
}, 300_000);
