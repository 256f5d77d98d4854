import { describe, expect, it, afterEach } from 'vitest';
import { capturingLogger, closeAll, fixture, start } from '../support/scheduler.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/scheduler.js';

afterEach(closeAll);

describe('budgets reach dispatch (options ← config file ← env)', () => {
  it('a batch reserves the budget the environment gives, over the file and the options', async () => {
    const dir = tempDir();
    const configFile = join(dir, 'scheduler.yaml');
    writeFileSync(configFile, 'scheduler:\n  vram_budgets:\n    cover_letter: 6\n');
    const s = await start({
      configFile,
      env: { VRAM_BUDGET_COVER_LETTER: '9.9' },
      types: { cover_letter: { handler: fixture('echo-handler.mjs'), vramGb: 2.5 } },
    });
    const started: number[] = [];
    s.on('batch:started', (e) => started.push(e.vramGb));
    await s.run('cover_letter', {});
    expect(started).toEqual([9.9]);
  });

  it('warns about a GPU type with no budget and runs it without reserving VRAM', async () => {
    const { logger, lines } = capturingLogger();
    const s = await start({ logger, env: {}, types: { unbudgeted: { handler: fixture('echo-handler.mjs') } } });
    const warning = lines.find((l) => String(l.msg).includes('unbudgeted'));
    expect(warning?.level).toBe(40);
    expect(String(warning?.msg)).toContain('VRAM_BUDGET_UNBUDGETED');
    expect(await s.run('unbudgeted', { n: 1 })).toMatchObject({ status: 'succeeded' });
  });
});
