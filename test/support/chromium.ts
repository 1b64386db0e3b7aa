/**
 * Starts the system's Chromium for a test through playwright-core (which downloads no browser
 * of its own): headless, with a fresh profile, made-up hostnames mapped to loopback, and the
 * background traffic a test run does not want switched off.
 *
 * @example
 * ```ts
 * const chromium = requireBinary('chromium');
 * const browser = await launchChromium(chromium.path!, { mapToLoopback: ['*.example.test'] });
 * after(() => browser.close());
 * await browser.page.goto('http://app.example.test:41234/');
 * ```
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface ChromiumOptions {
  /** Hostname patterns (`*.example.test`) that resolve to 127.0.0.1; keep ports in URLs. */
  mapToLoopback?: string[];
}

export interface RunningChromium {
  context: BrowserContext;
  /** The context's first tab. */
  page: Page;
  /** Closes the browser and removes its profile folder. */
  close(): Promise<void>;
}

/**
 * `--no-sandbox` because the suite runs as root in CI, where Chromium refuses its sandbox; the
 * rest keep a test run from reaching the network on its own (updates, sync, QUIC probes).
 */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(
  executablePath: string,
  options: ChromiumOptions = {},
): Promise<RunningChromium> {
  const profile = await mkdtemp(join(tmpdir(), 'gatehouse-chromium-'));
  const rules = (options.mapToLoopback ?? []).map((pattern) => `MAP ${pattern} 127.0.0.1`);
  const args = rules.length ? [...ARGS, `--host-resolver-rules=${rules.join(', ')}`] : ARGS;

  let context: BrowserContext;
  try {
    // A persistent context is how playwright takes a profile folder (--user-data-dir) of ours.
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }

  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
