import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * A real headless Chromium for browser tests, driven by playwright-core (which downloads no
 * browser: it runs the system's `/usr/bin/chromium`, installed by `.ci/run`). One launch per
 * test file, with a fresh profile directory removed on close.
 *
 * Without Chromium: under CI (`CI` set) the browser tests fail; locally they are skipped
 * with a loud message.
 *
 * @example
 *   const browser = await launchChromium();
 *   const page = await browser.context.newPage();
 *   await browser.close();
 */
export const CHROMIUM = process.env.GANTRY_CHROMIUM ?? '/usr/bin/chromium';

/** Whether the browser tests run here (false only locally without Chromium). */
export function browserTestsEnabled(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) return true; // launchChromium then fails the tests, naming the path
  console.warn(`\n*** ${CHROMIUM} not found: SKIPPING the browser tests (apt-get install -y chromium; CI fails without it) ***\n`);
  return false;
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: the browser tests need it (apt-get install -y chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'gantry-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
