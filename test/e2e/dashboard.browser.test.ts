/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core. The page must
 * show a running batch, queue depths per priority, the VRAM bar and a failure, live, with every
 * request staying on the dashboard's own origin (nothing from a CDN). A screenshot is written to
 * test-output/dashboard.png and checked.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { gatePerTest } from '../support/gate.js';
import { fixture, start, tempDir } from '../support/scheduler.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// No outside network here or in CI: keep chromium from reaching for it.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEWPORT = { width: 1200, height: 800 };
const SCREENSHOT = join('test-output', 'dashboard.png');

const openGate = gatePerTest();
let browser: BrowserContext | undefined;
// Registered after gatePerTest(), so it runs before it: the browser closes first.
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

async function openBrowser(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH. This test does not skip.`);
  }
  return chromium.launchPersistentContext(tempDir('vs-chromium-'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: VIEWPORT });
}

describe('dashboard in a browser', () => {
  it('shows the running batch, queue depths, the VRAM bar and a failure, live, from its own origin only', async () => {
    const gate = openGate();
    const s = await start({
      devices: [{ id: 'gpu0', vramGb: 24 }, { id: 'gpu1', vramGb: 16 }],
      types: {
        chat: { handler: fixture('gated-handler.mjs'), vramGb: 9.5 },
        embed: { handler: fixture('handler-throws.mjs'), vramGb: 2 },
      },
      dashboardPort: 0,
    });
    const url = s.dashboardUrl!;
    expect(new URL(url).hostname).toBe('127.0.0.1');
    browser = await openBrowser();
    const page = browser.pages()[0] ?? (await browser.newPage());
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(url);
    await page.locator('#connection.live').waitFor();

    // One chat task runs (held by the gate), three more wait behind it.
    await s.submit('chat', { tag: 'running' });
    await gate.waitForStarted(1);
    await s.submit('chat', { tag: 'q1' }, { priority: 'high' });
    await s.submit('chat', { tag: 'q2' }, { priority: 'high' });
    await s.submit('chat', { tag: 'q3' }, { priority: 'low' });

    const batch = page.locator('[data-device] [data-batch="chat"]');
    await batch.locator('.batch-running', { hasText: '1 running' }).waitFor();
    const device = s.snapshot().batches[0]!.device;
    expect(await page.locator(`[data-device="${device}"] [data-batch="chat"]`).count()).toBe(1);
    const queue = page.locator('[data-queue="chat"]');
    await queue.locator('[data-total]', { hasText: /^3$/ }).waitFor();
    expect(await queue.locator('td[data-priority]').allTextContents()).toEqual(['0', '2', '0', '1']); // critical, high, normal, low
    const bar = page.locator(`[data-device="${device}"] [role="meter"]`);
    expect(await bar.getAttribute('aria-valuenow')).toBe('9.5');
    const capacity = Number(await bar.getAttribute('aria-valuemax'));
    const [barBox, leaseBox] = [await bar.boundingBox(), await bar.locator('[data-lease="chat"]').boundingBox()];
    expect(leaseBox!.width / barBox!.width).toBeCloseTo(9.5 / capacity, 2);
    await expect(page.locator(`[data-device="${device}"] .vram-text`).textContent()).resolves.toBe(`9.5 / ${capacity} GB reserved`);

    // A failure shows up in the recent failures, code and message.
    const failed = await s.run('embed', { fail: 'on purpose' });
    expect(failed.status).toBe('failed');
    const row = page.locator(`[data-failure="${failed.id}"]`);
    await row.waitFor();
    expect(await row.locator('.code').textContent()).toBe('HANDLER_ERROR');
    expect(await row.locator('.message').textContent()).toContain('boom on purpose');

    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    const png = PNG.sync.read(readFileSync(SCREENSHOT));
    expect([png.width, png.height]).toEqual([VIEWPORT.width, VIEWPORT.height]);
    expect(distinctColours(png)).toBeGreaterThan(10); // drawn, not a blank page

    // Everything drains: the page follows to an empty queue and an empty bar.
    gate.releaseAll();
    await s.drain();
    await queue.locator('[data-total]', { hasText: /^0$/ }).waitFor();
    await page.locator(`[data-device="${device}"] [role="meter"][aria-valuenow="0"]`).waitFor();
    await page.waitForFunction("document.querySelectorAll('[data-batch]').length === 0");
    await page.locator('#ended', { hasText: '4 succeeded · 1 failed' }).waitFor();

    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => !r.startsWith(url))).toEqual([]);
  });
});

function distinctColours(png: PNG): number {
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  return colours.size;
}
