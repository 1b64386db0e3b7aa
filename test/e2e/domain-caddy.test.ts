/**
 * The README's domain-mode Caddy snippet (examples/caddy/Caddyfile.domain), run by a real Caddy
 * in front of real Gatehouse in forward_domain mode: one sign-in on the auth host covers every
 * host on the cookie domain, a host that only looks like one is not covered, return targets stay
 * on the domain, and signing out ends it for every host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { RecordedRequest } from '../../src/demo/whoami.ts';
import { requireBinary } from '../support/binaries.ts';
import { Browser, parseForm, type Navigation } from '../support/browser.ts';
import {
  COOKIE_DOMAIN,
  HOSTS,
  startDomainBehindCaddy,
  type DomainDeployment,
  type SiteName,
} from '../support/domain-caddy.ts';
import { assertReachedAsAlice, redirectTarget } from '../support/e2e.ts';
import { PREFIX } from '../support/stack.ts';

const caddy = requireBinary('caddy');

const PAGE = '/some/path?q=1';

describe('Caddy forward_auth in front of Gatehouse in domain mode', { skip: caddy.skip }, () => {
  let deployment: DomainDeployment;

  before(async () => {
    deployment = await startDomainBehindCaddy();
  });
  after(() => deployment?.close());

  const requests = (): RecordedRequest[] => deployment.stack.whoami.requests;
  const logs = (): string => deployment.logs();
  const url = (site: SiteName, path: string): string => deployment.url(site, path);
  const tokenRequests = (): number => deployment.stack.provider.counters.tokenRequests;

  async function signedIn(): Promise<Browser> {
    const browser = deployment.stack.browser();
    const page = await browser.login(url('app', PAGE), 'alice');
    assert.equal(page.status, 200, `${page.body}\n${logs()}`);
    return browser;
  }

  /**
   * A navigation without a session is challenged: on another host of the domain it is sent to
   * the auth host's /start, and on the auth host, where the callback is, straight to the provider.
   */
  async function assertChallenged(browser: Browser, site: SiteName, cookie?: string) {
    const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
    const response = await browser.request(url(site, PAGE), { headers });

    const target = redirectTarget(response, logs);
    if (site === 'auth') {
      assert.equal(target.origin, new URL(deployment.stack.provider.issuer).origin);
      assert.equal(target.searchParams.get('redirect_uri'), url('auth', `${PREFIX}/callback`));
      return;
    }
    assert.equal(target.origin, deployment.origin('auth'));
    assert.equal(target.pathname, `${PREFIX}/start`);
    assert.equal(target.searchParams.get('rd'), url(site, PAGE));
  }

  function sessionCookies(browser: Browser, site: SiteName) {
    return browser
      .cookies(url(site, PAGE))
      .filter((cookie) => cookie.name.startsWith('gatehouse_session'));
  }

  function assertLoginForm(page: Navigation): void {
    const form = parseForm(page.body, page.url);
    assert.ok(
      form?.fields.has('username') && form.fields.has('password'),
      `expected the provider's login form at ${page.url}, got ${page.status} ${page.body}`,
    );
  }

  test('signing in on app.example.test runs on the auth host and lands back on the page as alice', async () => {
    const browser = deployment.stack.browser();
    const tokensBefore = tokenRequests();

    await assertChallenged(browser, 'app');
    const page = await browser.login(url('app', PAGE), 'alice');

    assert.equal(page.status, 200, `${page.body}\n${logs()}`);
    assert.equal(page.url, url('app', PAGE));
    const authorization = page.hops.find((hop) =>
      hop.url.startsWith(`${deployment.stack.provider.issuer}/auth`),
    );
    assert.ok(authorization, `no hop reached the provider: ${JSON.stringify(page.hops)}`);
    assert.equal(
      new URL(authorization.url).searchParams.get('redirect_uri'),
      url('auth', `${PREFIX}/callback`),
    );
    assert.ok(
      page.hops.some((hop) => hop.url.startsWith(url('auth', `${PREFIX}/callback?`))),
      'the callback did not run on the auth host through Caddy',
    );
    assert.equal(tokenRequests(), tokensBefore + 1);

    const request = requests().at(-1);
    assertReachedAsAlice(request, PAGE);
    assert.equal(request!.headers.host, `${HOSTS.app}:${deployment.port}`);

    const session = sessionCookies(browser, 'app2');
    assert.equal(session.length, 1, JSON.stringify(browser.cookies()));
    assert.equal(session[0]!.domain, COOKIE_DOMAIN);
    assert.equal(session[0]!.hostOnly, false);
  });

  test('the same browser reaches app2.example.test and the auth host without signing in again', async () => {
    const browser = await signedIn();
    const tokensBefore = tokenRequests();

    for (const site of ['app2', 'auth'] as const) {
      const page = await browser.navigate(url(site, PAGE));

      assert.equal(page.status, 200, `${site}: ${page.body}\n${logs()}`);
      assert.deepEqual(
        page.hops.map((hop) => hop.url),
        [url(site, PAGE)],
        `${site}: a sign-in round trip happened`,
      );
      const request = requests().at(-1);
      assertReachedAsAlice(request, PAGE);
      assert.equal(request!.headers.host, `${HOSTS[site]}:${deployment.port}`);
    }
    assert.equal(tokenRequests(), tokensBefore, 'the provider was asked for tokens again');
  });

  test('a look-alike host outside the cookie domain is not covered, even with the session cookie', async () => {
    const browser = await signedIn();
    const cookie = browser.cookieHeader(url('app', PAGE));
    const seen = requests().length;

    assert.equal(
      browser.cookieHeader(url('lookalike', PAGE)),
      '',
      'the cookie went to the look-alike',
    );
    // The forged X-Forwarded-Host would make Gatehouse judge a covered host if Caddy passed it on.
    const forged = { cookie, 'x-forwarded-host': `${HOSTS.app}:${deployment.port}` };
    for (const headers of [{}, { cookie }, forged] as Array<Record<string, string>>) {
      for (const path of [
        PAGE,
        `${PREFIX}/start?rd=${encodeURIComponent(url('lookalike', '/'))}`,
      ]) {
        const response = await browser.request(url('lookalike', path), { headers });

        assert.equal(
          response.status,
          404,
          `${path}: ${response.status} ${response.body}\n${logs()}`,
        );
        assert.equal(response.headers.location, undefined);
      }
    }
    assert.equal(requests().length, seen, 'the application was reached on the look-alike host');
  });

  test('a return target outside the domain falls back to the auth host root', async () => {
    const browser = await signedIn();
    const root = url('auth', '/');
    const outside = [
      `http://${HOSTS.lookalike}:${deployment.port}/x`,
      `http://evil.test:${deployment.port}/x`,
      `http://${HOSTS.app}:${deployment.port + 1}/x`,
      `https://${HOSTS.app}:${deployment.port}/x`,
      `//${HOSTS.lookalike}:${deployment.port}/x`,
    ];

    for (const rd of outside) {
      const response = await browser.request(
        url('auth', `${PREFIX}/start?rd=${encodeURIComponent(rd)}`),
      );
      assert.equal(redirectTarget(response, logs).href, root, rd);
    }
    const inside = url('app2', '/x?y=1');
    const kept = await browser.request(
      url('auth', `${PREFIX}/start?rd=${encodeURIComponent(inside)}`),
    );
    assert.equal(redirectTarget(kept, logs).href, inside);

    const fresh = deployment.stack.browser();
    const rd = encodeURIComponent(`http://${HOSTS.lookalike}:${deployment.port}/x`);
    const page = await fresh.login(url('app', `${PREFIX}/start?rd=${rd}`), 'alice');
    assert.equal(page.status, 200, `${page.body}\n${logs()}`);
    assert.equal(page.url, root);
  });

  test('signing out on one host ends the session for every host: the next visit needs a login', async () => {
    const browser = await signedIn();
    const oldCookie = browser.cookieHeader(url('app', PAGE));
    const seen = requests().length;

    const signOut = await browser.navigate(url('app2', `${PREFIX}/sign_out`), {
      submitForms: true,
    });

    assert.equal(signOut.status, 200, `${signOut.status} ${signOut.body}\n${logs()}`);
    assert.deepEqual(sessionCookies(browser, 'app'), [], 'the session cookie was not cleared');
    for (const site of ['app', 'app2', 'auth'] as const) {
      await assertChallenged(browser, site);
      await assertChallenged(new Browser(), site, oldCookie);
    }
    assert.equal(requests().length, seen, 'the application was reached after signing out');

    const tokensBefore = tokenRequests();
    const next = await browser.navigate(url('app', PAGE));
    assertLoginForm(next);
    const again = await browser.login(url('app', PAGE), 'alice');
    assert.equal(again.status, 200, `${again.body}\n${logs()}`);
    assert.equal(again.url, url('app', PAGE));
    assert.equal(tokenRequests(), tokensBefore + 1);
    assertReachedAsAlice(requests().at(-1), PAGE);
  });
});
