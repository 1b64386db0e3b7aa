/**
 * A real browser through the README's domain-mode Caddy snippet: Debian's Chromium, driven by
 * playwright-core, signs in on the provider's own login form, sees its identity on the whoami
 * page, opens a second host of the domain without signing in again, signs out, and is asked to
 * sign in again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Page } from 'playwright-core';

import { ALICE } from '../../src/demo/users.ts';
import { requireBinary } from '../support/binaries.ts';
import { launchChromium, type RunningChromium } from '../support/chromium.ts';
import {
  COOKIE_DOMAIN,
  startDomainBehindCaddy,
  type DomainDeployment,
} from '../support/domain-caddy.ts';
import { PREFIX } from '../support/stack.ts';

const caddy = requireBinary('caddy');
const chromium = requireBinary('chromium');

const PAGE = '/some/path?q=1';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The whoami page's identity table: header names in lower case, with their values. */
async function identityOnPage(page: Page): Promise<Map<string, string>> {
  const rows = await page.$$eval('table#identity tr', (trs) =>
    trs.map((tr) => [
      tr.querySelector('th')?.textContent ?? '',
      tr.querySelector('td')?.textContent ?? '',
    ]),
  );
  return new Map(rows.map(([name, value]) => [name!.toLowerCase(), value!]));
}

function assertShowsAlice(identity: Map<string, string>): void {
  assert.equal(identity.get('x-authentik-username'), 'alice', JSON.stringify([...identity]));
  assert.equal(identity.get('x-authentik-groups'), 'admins|staff');
  assert.equal(identity.get('x-authentik-email'), ALICE.email);
  assert.equal(identity.get('x-authentik-uid'), ALICE.sub);
}

describe(
  'Chromium signs in through Caddy in domain mode',
  { skip: caddy.skip || chromium.skip },
  () => {
    let deployment: DomainDeployment;
    let browser: RunningChromium;
    let shots: string;

    before(async () => {
      shots = await mkdtemp(join(tmpdir(), 'gatehouse-screenshots-'));
      deployment = await startDomainBehindCaddy();
      browser = await launchChromium(chromium.path!, { mapToLoopback: ['*.example.test'] });
    });
    after(async () => {
      await browser?.close();
      await deployment?.close();
      if (shots) await rm(shots, { recursive: true, force: true });
    });

    const url = (site: 'app' | 'app2', path: string): string => deployment.url(site, path);
    const tokenRequests = (): number => deployment.stack.provider.counters.tokenRequests;
    const loginForm = (): ReturnType<Page['locator']> => browser.page.locator('form#login');

    async function signInOnForm(page: Page): Promise<void> {
      await loginForm().waitFor();
      assert.ok(
        page.url().startsWith(deployment.stack.provider.issuer),
        `the login form is not the provider's: ${page.url()}`,
      );
      await page.fill('#username', 'alice');
      await page.fill('#password', ALICE.password);
      await page.click('form#login button[type=submit]');
    }

    test('signing in on the login form shows alice on the whoami page', async () => {
      const page = browser.page;

      await page.goto(url('app', PAGE));
      await signInOnForm(page);
      await page.waitForURL(url('app', PAGE));

      assertShowsAlice(await identityOnPage(page));
      const session = (await browser.context.cookies(url('app', PAGE))).filter((cookie) =>
        cookie.name.startsWith('gatehouse_session'),
      );
      assert.equal(session.length, 1);
      assert.equal(session[0]!.domain, `.${COOKIE_DOMAIN}`);

      const file = join(shots, 'whoami-signed-in.png');
      await page.screenshot({ path: file, fullPage: true });
      const png = await readFile(file);
      assert.ok(png.length > PNG_SIGNATURE.length, 'the screenshot is empty');
      assert.deepEqual(png.subarray(0, PNG_SIGNATURE.length), PNG_SIGNATURE);
    });

    test('the second host opens signed in, with no login form and no provider round trip', async () => {
      const page = browser.page;
      const tokensBefore = tokenRequests();

      const response = await page.goto(url('app2', PAGE));

      assert.ok(response, 'no response for the second host');
      assert.equal(response.status(), 200);
      assert.equal(response.request().redirectedFrom(), null, 'the second host redirected');
      assert.equal(page.url(), url('app2', PAGE));
      assert.equal(await loginForm().count(), 0);
      assertShowsAlice(await identityOnPage(page));
      assert.equal(tokenRequests(), tokensBefore, 'the provider was asked for tokens again');
    });

    test('after signing out, the next visit asks for a sign-in again', async () => {
      const page = browser.page;

      // The provider's logout page submits itself, then sends the browser back to the auth host.
      // Waiting only for the commit: the logout page navigates on before it has finished loading.
      await page.goto(url('app', `${PREFIX}/sign_out`), { waitUntil: 'commit' });
      await loginForm().waitFor();
      assert.ok(page.url().startsWith(deployment.stack.provider.issuer), page.url());
      const session = (await browser.context.cookies(url('app', PAGE))).filter((cookie) =>
        cookie.name.startsWith('gatehouse_session'),
      );
      assert.deepEqual(session, [], 'the session cookie outlived the sign-out');

      for (const site of ['app', 'app2'] as const) {
        await page.goto(url(site, PAGE));
        await loginForm().waitFor();
        assert.ok(page.url().startsWith(deployment.stack.provider.issuer), page.url());
      }

      await signInOnForm(page);
      await page.waitForURL(url('app2', PAGE));
      assertShowsAlice(await identityOnPage(page));
    });
  },
);
