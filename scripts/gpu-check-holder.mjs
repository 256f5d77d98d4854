// A python3 + PyTorch process that holds VRAM on cuda:0 until it is released: the "other
// program" of `npm run gpu-check`, and the model a handler runs in a child process.
import { execFileSync, spawn } from 'node:child_process';

/**
 * Resolves once `gb` GiB are allocated and written; `release()` frees them. `foreign`: the
 * holder is no descendant of this process (`setsid -f` hands it to init), as another program's
 * would be; else it is our child, as a handler's model server would be.
 */
export async function holdVram(gb, { foreign = false } = {}) {
  const code = [
    'import os, signal, torch',
    `x = torch.ones(${Math.round(gb * 1024 ** 3)}, dtype=torch.uint8, device="cuda:0")`,
    'torch.cuda.synchronize()',
    'print("ready", os.getpid(), flush=True)',
    'signal.pause()',
  ].join('\n');
  const command = foreign ? ['setsid', '-f', 'python3', '-c', code] : ['python3', '-c', code];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  // Python's own pid and its stdout, not the spawned process, say when it is ready and when it
  // is gone: with `setsid -f` the spawned process exits at once and python keeps the pipe.
  const gone = new Promise((resolve) => child.stdout.once('close', resolve));
  const pid = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      const ready = /ready (\d+)/.exec(chunk.toString());
      if (ready) resolve(Number(ready[1]));
    });
    void gone.then(() => reject(new Error('the VRAM holder exited before it was ready')));
  });
  return { pid, gone };
}

/** Ends a holder and waits until its process is gone (the driver frees its VRAM just after). */
export async function release(holder) {
  process.kill(holder.pid, 'SIGTERM');
  await holder.gone;
}

export function hasTorch() {
  try {
    execFileSync('python3', ['-c', 'import torch; assert torch.cuda.is_available()'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
