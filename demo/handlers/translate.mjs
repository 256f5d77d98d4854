// "translate": a mid-size model; refuses a language it does not know, to show a task failure.
import { defineHandler } from 'vram-scheduler/worker';
import { CATALOG } from './catalog.mjs';
import { syntheticModel } from './synthetic-model.mjs';

const model = syntheticModel({ budgetGb: CATALOG.translate.vramGb, roundsPerToken: CATALOG.translate.roundsPerToken });

export default defineHandler({
  load: model.load,
  unload: model.unload,
  run(payload, ctx, loaded) {
    if (payload.to === 'Klingon') throw new Error('this model was not trained on Klingon');
    return model.run(payload, ctx, loaded);
  },
});
