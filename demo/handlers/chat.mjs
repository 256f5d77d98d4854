// "chat": a mid-size model answering short questions, three at once in its thread.
import { CATALOG } from './catalog.mjs';
import { syntheticModel } from './synthetic-model.mjs';

export default syntheticModel({ budgetGb: CATALOG.chat.vramGb, roundsPerToken: CATALOG.chat.roundsPerToken });
