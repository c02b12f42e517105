import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { onTestFinished } from 'vitest';
import type { Disposers } from './services.ts';

/** The system's Chromium (.ci/run installs it): no browser is ever downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Where screenshots go: `SCREENSHOTS=docs/screenshots` for the README's, otherwise a folder git
 * ignores.
 */
const SCREENSHOTS = process.env.SCREENSHOTS ?? 'test-results/screenshots';

/** A page of the console, with what went wrong on it. */
export interface ConsolePage {
  page: Page;
  /** Console errors, failed requests and page errors seen so far that the test did not expect. */
  readonly problems: readonly string[];
  /** Expects problems matching this pattern (a refused token's 401): they do not fail the test. */
  expect(pattern: RegExp): void;
  /** Saves a screenshot of the page as `<name>.png`. */
  screenshot(name: string): Promise<void>;
}

/** Headless Chromium, closed with the test file's other resources. */
export async function launchBrowser(disposers: Disposers): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  disposers.add(() => browser.close());
  return browser;
}

/**
 * A fresh page (its own storage) at `url`, recording console errors and warnings, failed requests and page
 * errors: the test that opened it fails on any it did not expect (`expected` from the first
 * request on, or later with `expect`).
 */
export async function openPage(browser: Browser, url: string, expected: RegExp[] = []): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  const record = (problem: string) => {
    if (!expected.some((pattern) => pattern.test(problem))) problems.push(problem);
  };
  page.on('console', (message) => ['error', 'warning'].includes(message.type()) && record(`console ${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => record(`page error: ${error.message}`));
  // A request the console cancels itself (its page left) is no failure.
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText;
    if (reason !== 'net::ERR_ABORTED') record(`request failed: ${request.method()} ${request.url()} ${reason}`);
  });
  onTestFinished(async () => {
    // What closing the page cuts short is no problem of the console's.
    const seen = [...problems];
    await context.close();
    if (seen.length > 0) throw new Error(`the console had problems:\n${seen.join('\n')}`);
  });
  await page.goto(url);
  return {
    page,
    problems,
    expect: (pattern) => expected.push(pattern),
    screenshot: async (name) => {
      await mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    },
  };
}

/** Signing in to the console at `consoleUrl()` (read when called: the console starts after the file is loaded). */
export function consoleSignIn(browser: () => Browser, consoleUrl: () => string) {
  const open = (path: string) => openPage(browser(), new URL(path, consoleUrl()).href);
  return {
    /** Signs in at `path` with pasted tokens: a member token and grants. */
    signInWith: async (token: string, grants: string[], path = '/'): Promise<ConsolePage> => {
      const tab = await open(path);
      await tab.page.getByTestId('signin-token').fill(token);
      await tab.page.getByTestId('signin-grants').fill(grants.join('\n'));
      await tab.page.getByTestId('signin-submit').click();
      await tab.page.getByTestId('whoami').waitFor();
      return tab;
    },
    /** Signs in at `path` as one of the demo's people. */
    signInAs: async (persona: string, path = '/'): Promise<ConsolePage> => {
      const tab = await open(path);
      await tab.page.getByTestId(`persona-${persona}`).click();
      await tab.page.getByTestId('whoami').waitFor();
      return tab;
    },
  };
}
