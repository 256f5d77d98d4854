/**
 * Security: the data directory is private to its user, a task's payload can never make the
 * scheduler load code (only the handler modules in its options ever run), and a type name never
 * becomes a path (the names the config refuses are in bad-input.table.test.ts; here, the names it
 * accepts write nothing outside the store).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, fixture, start, tempDir } from '../support/scheduler.js';

afterEach(closeAll);
afterEach(() => {
  delete process.env.VS_EVIL_MARKER;
});

const modeOf = (file: string): number => statSync(file).mode & 0o777;

describe('the data directory', () => {
  it('is created 0700 (and its missing parents too), its LMDB files 0600, even under umask 0', async () => {
    const root = tempDir('vs-perm-');
    const dataDir = join(root, 'parent', 'store');
    const umask = process.umask(0); // the most permissive umask: the modes must come from the code
    try {
      await start({ dataDir, types: { t: { handler: fixture('echo-handler.mjs'), vramGb: 1 } } });
    } finally {
      process.umask(umask);
    }
    expect(modeOf(join(root, 'parent'))).toBe(0o700);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(readdirSync(dataDir).sort()).toEqual(['data.mdb', 'lock.mdb']);
    for (const file of ['data.mdb', 'lock.mdb']) expect(modeOf(join(dataDir, file)), file).toBe(0o600);
  });
});

describe('a payload cannot name code to load', () => {
  const evil = fixture('evil-module.mjs');
  const evilUrl = pathToFileURL(evil).href;

  it('control: the evil module leaves its marker when it is configured as a handler', async () => {
    const marker = join(tempDir('vs-evil-'), 'imported');
    process.env.VS_EVIL_MARKER = marker;
    const s = await start({ types: { evil: { handler: evil, vramGb: 1 } } });
    expect(await s.run('evil', {})).toMatchObject({ status: 'succeeded', value: 'evil ran' });
    expect(existsSync(marker)).toBe(true);
  });

  it('payloads naming a module, a file, a type or a prototype run the configured handler only', async () => {
    const marker = join(tempDir('vs-evil-'), 'imported');
    process.env.VS_EVIL_MARKER = marker;
    const s = await start({ types: { echo: { handler: fixture('echo-handler.mjs'), vramGb: 1 }, cpu: { handler: fixture('echo-handler.mjs'), gpu: false } } });
    const payloads: unknown[] = [
      evilUrl,
      evil,
      { handler: evilUrl },
      { handler: evil, type: 'evil', filename: evil, module: evilUrl, import: evilUrl },
      { op: 'run', type: 'evil', handlers: { echo: evilUrl, cpu: evilUrl } },
      { op: 'unload', type: 'echo' },
      { unload: 'echo', id: 1 },
      { constructor: { prototype: { handler: evilUrl } } },
    ];
    // An own `__proto__` key (as JSON.parse makes it) must not reach any prototype either.
    const protoPayload: unknown = JSON.parse(`{"__proto__": {"handler": ${JSON.stringify(evilUrl)}, "handlers": {"echo": ${JSON.stringify(evilUrl)}}}}`);
    for (const type of ['echo', 'cpu']) {
      for (const payload of payloads) {
        const result = await s.run(type, payload);
        expect(result, JSON.stringify(payload)).toMatchObject({ status: 'succeeded', value: { payload } });
      }
      expect(await s.run(type, protoPayload)).toMatchObject({ status: 'succeeded' });
    }
    expect(Object.prototype).not.toHaveProperty('handler');
    expect(Object.prototype).not.toHaveProperty('handlers');
    // Nor can the call's type or options: a module as type is unknown, a handler option refused.
    await expect(s.submit(evilUrl, {})).rejects.toMatchObject({ code: 'UNKNOWN_TYPE' });
    await expect(s.submit('echo', {}, { handler: evilUrl } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await s.drain();
    expect(existsSync(marker), 'the evil module was imported').toBe(false);
  });
});

describe('type names never become paths', () => {
  it('running tasks of types with dots and dashes in their names writes nothing but the store', async () => {
    const root = tempDir('vs-names-');
    const dataDir = join(root, 'store');
    const echo = fixture('echo-handler.mjs');
    const names = ['a.b', 'x-', 'etc.passwd', '0.-.', 'v1.2.3_q4-gguf'];
    const s = await start({ dataDir, types: Object.fromEntries(names.map((name) => [name, { handler: echo, vramGb: 1 }])) });
    for (const name of names) expect(await s.run(name, { name }), name).toMatchObject({ status: 'succeeded' });
    await s.close();
    expect(readdirSync(root)).toEqual(['store']);
    expect(readdirSync(dataDir).sort()).toEqual(['data.mdb', 'lock.mdb']);
  });
});
