// The task handler of `npm run gpu-check`. With `holdGb` it runs its "model" in a child process
// that holds that much VRAM for `holdMs`, as a handler driving a llama.cpp server would.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineHandler } from 'vram-scheduler/worker';
import { holdVram, release } from './gpu-check-holder.mjs';

export default defineHandler({
  async run(payload, ctx) {
    if (payload.holdGb !== undefined) {
      // Progress marks each stage, so a check that times out says which one never ended.
      const holder = await holdVram(payload.holdGb);
      ctx.progress(1 / 3, 'holding');
      await sleep(payload.holdMs); // the "inference": the child keeps its VRAM meanwhile
      ctx.progress(2 / 3, 'releasing');
      await release(holder);
    }
    return { ...payload, device: ctx.device?.id ?? null };
  },
});
