import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, createBearerClient } from '../../src/index.js';
import { startEmulator } from '../../src/testing/index.js';

/**
 * The emulator's live page in a real headless Chromium (Debian's `chromium` package). Under CI=true it
 * always runs, so a CI machine without Chromium fails here instead of passing quietly; elsewhere it is
 * skipped when Chromium is not installed.
 */
const CHROMIUM = '/usr/bin/chromium';
const INSTALL = 'apt-get install chromium';
const ci = process.env['CI'] === 'true';
const found = existsSync(CHROMIUM);
if (!found && !ci) console.warn(`Skipping the live-page tests: no Chromium at ${CHROMIUM}; ${INSTALL}`);

// Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const BOOKS = ['/me/drive/items/01SALES', '/me/drive/items/02STOCK', '/me/drive/root:/Finance/Budget.xlsx:'];

// One browser for the file, with a fresh, empty profile removed afterwards; set by beforeAll.
let browser: { context: BrowserContext; profile: string } | undefined;

beforeAll(async () => {
  if (!found) return;
  const profile = await mkdtemp(join(tmpdir(), 'emulator-page-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  browser = { context, profile };
}, 60_000);

afterAll(async () => {
  if (browser === undefined) return;
  await browser.context.close();
  await rm(browser.profile, { recursive: true, force: true });
});

/** The browser; under CI=true a missing Chromium fails the test, naming what to install. */
function context(): BrowserContext {
  if (browser === undefined) throw new Error(`Chromium is missing at ${CHROMIUM}, and CI=true needs it: ${INSTALL}`);
  return browser.context;
}

describe('the emulator live page in headless Chromium', { timeout: 60_000 }, () => {
  it('shows the sessions a SessionManager opened, per workbook, and 0 after its shutdown', async (ctx) => {
    if (!found && !ci) ctx.skip(`no Chromium at ${CHROMIUM}; to run this test: ${INSTALL}`);
    const browserContext = context();
    await using emulator = await startEmulator({
      workbooks: Object.fromEntries(BOOKS.map((path) => [path, {}])),
    });
    const manager = new SessionManager({
      client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
      exitHooks: false,
    });
    const page = await browserContext.newPage();
    try {
      const books = await Promise.all(BOOKS.map((path) => manager.open(path)));
      await Promise.all(books.map((book) => book.api('/worksheets').get()));

      await page.goto(`${emulator.url}/_emulator/#token=${emulator.token}`);
      // The token leaves the address bar once the page has read it.
      expect(page.url()).toBe(`${emulator.url}/_emulator/`);
      const openSessions = page.locator('#open-sessions');
      await page.waitForFunction(() => document.querySelector('#open-sessions')?.textContent === '3');
      expect(await openSessions.textContent()).toBe('3');
      const rows = page.locator('#workbooks tr');
      expect(await rows.count()).toBe(3);
      for (const path of ['/me/drive/items/01SALES', '/me/drive/items/02STOCK']) {
        expect(await page.locator(`#workbooks tr[data-workbook="${path}"] td.open`).textContent()).toBe('1');
      }
      expect(await page.locator('#timeline tr.event.create').count()).toBe(3);
      expect(await page.locator('#timeline tr.event.call').count()).toBeGreaterThanOrEqual(6);
      expect(await page.locator('body').getAttribute('data-state')).toBe('live');

      const report = await manager.shutdown();
      expect(report.closed).toBe(3);
      await page.waitForFunction(() => document.querySelector('#open-sessions')?.textContent === '0');
      expect(await openSessions.textContent()).toBe('0');
      expect(await page.locator('#workbooks td.open').allTextContents()).toEqual(['0', '0', '0']);
      await page.waitForFunction(() => document.querySelectorAll('#timeline tr.event.close').length === 3);
      expect(await page.locator('#closed').textContent()).toBe('3');
      // The page showed only shortened session ids, and never the token.
      const html = await page.content();
      expect(html).not.toContain(emulator.token);
      for (const session of emulator.service.sessions()) expect(html).not.toContain(session.id);
    } finally {
      await manager.shutdown();
      await page.close();
    }
  });

  it('says the token was refused when it is wrong, and connects once the right one is typed', async (ctx) => {
    if (!found && !ci) ctx.skip(`no Chromium at ${CHROMIUM}; to run this test: ${INSTALL}`);
    const browserContext = context();
    await using emulator = await startEmulator({ workbooks: { [BOOKS[0] as string]: {} } });
    const page = await browserContext.newPage();
    try {
      await page.goto(`${emulator.url}/_emulator/#token=wrong`);
      await page.waitForFunction(() => document.body.dataset['state'] === 'error');
      expect(await page.locator('#status').textContent()).toContain('the token was refused');
      await page.fill('#token', emulator.token);
      await page.dispatchEvent('#token', 'change');
      await page.waitForFunction(() => document.body.dataset['state'] === 'live');
      expect(await page.locator('#open-sessions').textContent()).toBe('0');
    } finally {
      await page.close();
    }
  });
});
