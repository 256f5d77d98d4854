// "summarize": the big model, slow tokens.
import { CATALOG } from './catalog.mjs';
import { syntheticModel } from './synthetic-model.mjs';

export default syntheticModel({ budgetGb: CATALOG.summarize.vramGb, roundsPerToken: CATALOG.summarize.roundsPerToken });
