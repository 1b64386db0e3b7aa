/**
 * The README's nginx and Caddy snippets (examples/nginx/app.conf, examples/caddy/Caddyfile), each
 * run by the real server in front of real Gatehouse: people sign in through it, lose their
 * session, sign out, and never reach the application under an identity Gatehouse did not give
 * them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ALICE } from '../../src/demo/users.ts';
import type { RecordedRequest } from '../../src/demo/whoami.ts';
import { requireBinary } from '../support/binaries.ts';
import { Browser } from '../support/browser.ts';
import {
  assertReachedAsAlice,
  FORGED_USERNAME_HEADERS,
  identityHeaders,
  identityValues,
  personHeaders,
  redirectTarget,
  startBehindProxy,
  type ProxiedDeployment,
  type ReverseProxy,
} from '../support/e2e.ts';
import { PREFIX } from '../support/stack.ts';

const PAGE = '/some/path?q=1';

type ProxyCase = {
  label: string;
  title: string;
  binary: { skip: string | false };
  /** nginx turns Gatehouse's 401 into its own page; Caddy passes Gatehouse's JSON on. */
  apiBodyIsGatehouses: boolean;
};

const PROXIES: Record<ReverseProxy, ProxyCase> = {
  nginx: {
    label: 'nginx',
    title: 'nginx auth_request in front of Gatehouse',
    binary: requireBinary('nginx'),
    apiBodyIsGatehouses: false,
  },
  caddy: {
    label: 'Caddy',
    title: 'Caddy forward_auth in front of Gatehouse',
    binary: requireBinary('caddy'),
    apiBodyIsGatehouses: true,
  },
};

for (const [proxy, { label, title, binary, apiBodyIsGatehouses }] of Object.entries(PROXIES) as [
  ReverseProxy,
  ProxyCase,
][]) {
  describe(title, { skip: binary.skip }, () => {
    let deployment: ProxiedDeployment;

    before(async () => {
      deployment = await startBehindProxy(proxy, { app: { skip_path_regex: ['^/public/'] } });
    });
    after(() => deployment?.close());

    const requests = (): RecordedRequest[] => deployment.stack.whoami.requests;
    const logs = (): string => deployment.logs();

    /**
     * A navigation without a session. nginx: 302 to Gatehouse's /start, which 302s to the provider.
     * Caddy: Gatehouse's 302 to the provider, passed on.
     */
    async function assertLoginChallenge(browser: Browser, path: string, cookie?: string) {
      const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
      const response = await browser.request(deployment.url(path), { headers });

      if (proxy === 'nginx') {
        const start = redirectTarget(response, logs);
        assert.equal(`${start.origin}${start.pathname}`, deployment.url(`${PREFIX}/start`));
        assert.equal(start.searchParams.get('rd'), deployment.url(path));
        const provider = redirectTarget(await browser.request(start), logs);
        assert.equal(provider.origin, new URL(deployment.stack.provider.issuer).origin);
        return;
      }
      const provider = redirectTarget(response, logs);
      assert.equal(provider.origin, new URL(deployment.stack.provider.issuer).origin);
      assert.equal(provider.searchParams.get('redirect_uri'), deployment.url(`${PREFIX}/callback`));
    }

    test(`signing in through ${label} lands on the original URL, and the application sees alice`, async () => {
      const browser = deployment.stack.browser();

      const page = await browser.login(deployment.url(PAGE), 'alice');

      assert.equal(page.status, 200, `${page.body}\n${logs()}`);
      assert.equal(page.url, deployment.url(PAGE));
      const callback = deployment.url(`${PREFIX}/callback`);
      assert.ok(
        page.hops.some((hop) => hop.url.startsWith(callback)),
        `the callback did not go through ${label}`,
      );
      assertReachedAsAlice(requests().at(-1), PAGE);
    });

    test('a session deleted from the store gets a login challenge, never the application', async () => {
      const browser = deployment.stack.browser();
      await browser.login(deployment.url(PAGE), 'alice');
      const identityBefore = personHeaders(requests().at(-1)!);
      const seen = requests().length;

      await deployment.stack.gatehouse.gatehouse.sessions.store.deleteWhere({ sub: ALICE.sub });

      await assertLoginChallenge(browser, PAGE);
      assert.equal(requests().length, seen, 'the application was reached without a session');

      const again = await browser.login(deployment.url(PAGE), 'alice');
      assert.equal(again.status, 200, `${again.body}\n${logs()}`);
      assert.equal(again.url, deployment.url(PAGE));
      assertReachedAsAlice(requests().at(-1), PAGE);
      assert.deepEqual(personHeaders(requests().at(-1)!), identityBefore);
    });

    test('an API request without a cookie gets 401 and never reaches the application', async () => {
      const api = new Browser({ headers: { accept: 'application/json' } });
      const seen = requests().length;

      const response = await api.request(deployment.url('/api/items'));

      assert.equal(response.status, 401, `${response.body}\n${logs()}`);
      assert.equal(response.headers.location, undefined);
      if (apiBodyIsGatehouses) assert.equal(JSON.parse(response.body).error, 'unauthenticated');
      assert.equal(requests().length, seen);
    });

    test('a forged identity header from a signed-in browser never reaches the application', async () => {
      const browser = deployment.stack.browser();
      await browser.login(deployment.url(PAGE), 'alice');

      for (const name of FORGED_USERNAME_HEADERS) {
        const response = await browser.request(deployment.url('/forged'), {
          headers: { [name]: 'mallory' },
        });

        assert.equal(response.status, 200, `${name}: ${response.body}\n${logs()}`);
        const request = requests().at(-1)!;
        assert.equal(request.url, '/forged');
        assert.ok(!request.rawHeaders.includes('mallory'), `${name}: ${request.rawHeaders}`);
        assert.deepEqual(identityValues(request, 'x-authentik-username'), ['alice'], name);
      }
    });

    test('on a skip path an anonymous browser gets through with no identity, forged or not', async () => {
      const browser = deployment.stack.browser();

      for (const name of FORGED_USERNAME_HEADERS) {
        const response = await browser.request(deployment.url('/public/page'), {
          headers: { [name]: 'mallory' },
        });

        assert.equal(response.status, 200, `${name}: ${response.body}\n${logs()}`);
        const request = requests().at(-1)!;
        assert.equal(request.url, '/public/page');
        assert.ok(!request.rawHeaders.includes('mallory'), `${name}: ${request.rawHeaders}`);
        for (const [header, value] of identityHeaders(request)) {
          assert.equal(value, '', `${name}: the application got ${header}: ${value}`);
        }
      }
    });

    test(`signing out through ${label} ends the session: the next request is challenged`, async () => {
      const browser = deployment.stack.browser();
      await browser.login(deployment.url(PAGE), 'alice');
      const oldCookie = browser.cookieHeader(deployment.url(PAGE));
      const seen = requests().length;

      const signOut = await browser.request(deployment.url(`${PREFIX}/sign_out`));

      assert.ok(
        [200, 302].includes(signOut.status),
        `${signOut.status} ${signOut.body}\n${logs()}`,
      );
      await assertLoginChallenge(browser, PAGE);
      await assertLoginChallenge(new Browser(), PAGE, oldCookie);
      assert.equal(requests().length, seen, 'the application was reached after signing out');
    });
  });
}
