// "embed": a small model, two tasks at once in its thread; returns a vector.
import { CATALOG } from './catalog.mjs';
import { syntheticModel } from './synthetic-model.mjs';

export default syntheticModel({ budgetGb: CATALOG.embed.vramGb, roundsPerToken: CATALOG.embed.roundsPerToken, output: 'vector' });
