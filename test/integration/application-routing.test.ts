/**
 * One Gatehouse serving a proxy-mode, a forward_single and a forward_domain application: a host
 * that is none of theirs is refused by proxy mode and by every forward-auth flavour, and the own
 * endpoints answer on every application host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startGatehouse, type Running } from '../../src/cli.ts';
import { configSchema } from '../../src/config/schema.ts';
import { startWhoami, type RunningWhoami } from '../../src/demo/whoami.ts';
import { createLogger } from '../../src/log.ts';
import { Browser, type BrowserResponse } from '../support/browser.ts';
import { freePort } from '../support/ports.ts';
import {
  startTestProvider,
  testClient,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  type RunningProvider,
} from '../support/provider.ts';
import { PREFIX, SECRET } from '../support/stack.ts';

let port = 0;
let provider: RunningProvider;
let whoami: RunningWhoami;
let gatehouse: Running;

/** The application hosts: each external_host's host. */
const hosts = () => ({
  proxy: `app.example.test:${port}`,
  single: `single.example.test:${port}`,
  domain: `auth.domain.test:${port}`,
});

/** Hosts that reach no application: others, look-alikes, another port, the bare address. */
const unknownHosts = () => [
  `other.example.test:${port}`,
  `app.example.test.evil:${port}`,
  `xapp.example.test:${port}`,
  `app.example.test:${port === 1 ? 2 : 1}`,
  `xdomain.test:${port}`,
  `domain.test.evil:${port}`,
  `127.0.0.1:${port}`,
];

before(async () => {
  port = await freePort();
  const { proxy, single, domain } = hosts();
  provider = await startTestProvider([
    testClient(`http://${proxy}${PREFIX}/callback`, {
      redirect_uris: [proxy, single, domain].map((host) => `http://${host}${PREFIX}/callback`),
    }),
  ]);
  whoami = await startWhoami();
  const oidc = {
    issuer: provider.issuer,
    client_id: TEST_CLIENT_ID,
    client_secret: TEST_CLIENT_SECRET,
  };
  const config = configSchema.parse({
    listen: `127.0.0.1:${port}`,
    secret: SECRET,
    log_level: 'silent',
    session: { store: 'memory' },
    applications: [
      {
        name: 'proxied',
        mode: 'proxy',
        external_host: `http://${proxy}`,
        internal_host: whoami.url,
        oidc,
      },
      { name: 'single', mode: 'forward_single', external_host: `http://${single}`, oidc },
      {
        name: 'domain',
        mode: 'forward_domain',
        external_host: `http://${domain}`,
        cookie_domain: 'domain.test',
        oidc,
      },
    ],
  });
  gatehouse = await startGatehouse(config, { log: createLogger('silent') });
});

after(async () => {
  await gatehouse?.close();
  await whoami?.close();
  await provider?.close();
});

/** One request to Gatehouse's listener with the given Host, as an API client (no redirects). */
function ask(host: string, path: string, options: Parameters<Browser['request']>[1] = {}) {
  const browser = new Browser({ headers: { accept: '*/*' } });
  return browser.request(`${gatehouse.url}${path}`, {
    ...options,
    headers: { host, ...options.headers },
  });
}

/** The forward-auth question of each flavour about `http://<host><path>`. */
const FLAVOUR_QUESTIONS: Record<string, (host: string, path: string) => Promise<BrowserResponse>> =
  {
    traefik: (host, path) =>
      ask(new URL(gatehouse.url).host, `${PREFIX}/auth/traefik`, {
        headers: forwarded(host, path),
      }),
    caddy: (host, path) => ask(host, `${PREFIX}/auth/caddy`, { headers: forwarded(host, path) }),
    nginx: (host, path) =>
      ask(host, `${PREFIX}/auth/nginx`, {
        headers: { 'x-original-url': `http://${host}${path}`, 'x-original-method': 'GET' },
      }),
    envoy: (host, path) => ask(host, `${PREFIX}/auth/envoy${path}`),
  };

function forwarded(host: string, path: string): Record<string, string> {
  return {
    'x-forwarded-proto': 'http',
    'x-forwarded-host': host,
    'x-forwarded-uri': path,
    'x-forwarded-method': 'GET',
  };
}

describe('a host that matches no application', () => {
  test('gets 404 in proxy mode and never reaches the application', async () => {
    const before = whoami.requests.length;
    for (const host of [
      ...unknownHosts(),
      hosts().single,
      hosts().domain,
      `x.domain.test:${port}`,
    ]) {
      const response = await ask(host, '/page');
      assert.equal(response.status, 404, `${host}: ${response.status} ${response.body}`);
    }
    assert.equal(whoami.requests.length, before, 'a request for another host was forwarded');
  });

  test('gets a denial from every forward-auth flavour: 404, nginx 403', async () => {
    for (const [flavour, question] of Object.entries(FLAVOUR_QUESTIONS)) {
      for (const host of unknownHosts()) {
        const response = await question(host, '/page');
        const expected = flavour === 'nginx' ? 403 : 404;
        assert.equal(response.status, expected, `${flavour} ${host}: ${response.body}`);
        assert.equal(response.headers['x-authentik-username'], undefined);
      }
    }
  });

  test('a host the URL parser would rewrite into an application host is never allowed', async () => {
    const rewritten = [
      `app%2eexample.test:${port}`,
      `%61pp.example.test:${port}`,
      `.domain.test:${port}`,
    ];
    for (const host of rewritten) {
      assert.equal((await ask(host, '/page')).status, 404, host);
    }
    for (const [flavour, question] of Object.entries(FLAVOUR_QUESTIONS)) {
      for (const host of rewritten) {
        const response = await question(host, '/page');
        assert.ok(response.status >= 400, `${flavour} ${host}: ${response.status}`);
      }
    }
  });

  test('gets 404 from /start, /callback and /sign_out, but /ping, /ready and /backchannel_logout answer', async () => {
    for (const host of unknownHosts()) {
      for (const path of ['/start?rd=%2F', '/callback?code=x&state=y', '/sign_out']) {
        assert.equal((await ask(host, `${PREFIX}${path}`)).status, 404, `${host} ${path}`);
      }
      assert.equal((await ask(host, `${PREFIX}/ping`)).status, 204, host);
      assert.equal((await ask(host, `${PREFIX}/ready`)).status, 200, host);
      const logout = await ask(host, `${PREFIX}/backchannel_logout`, {
        method: 'POST',
        body: new URLSearchParams({ logout_token: 'not-a-token' }),
      });
      assert.equal(logout.status, 400, `${host}: ${logout.body}`);
    }
  });
});

describe('own endpoints on every application host', () => {
  test('/start begins a login with that application, its callback on its own host', async () => {
    for (const host of Object.values(hosts())) {
      const response = await ask(host, `${PREFIX}/start?rd=%2F`);
      assert.equal(response.status, 302, `${host}: ${response.body}`);
      const location = new URL(String(response.headers.location));
      assert.equal(location.origin, new URL(provider.issuer).origin, host);
      assert.equal(location.searchParams.get('redirect_uri'), `http://${host}${PREFIX}/callback`);
    }
  });

  test('/start on a host under the cookie domain leads to the auth host', async () => {
    const response = await ask(`x.domain.test:${port}`, `${PREFIX}/start?rd=%2F`);
    assert.equal(response.status, 302, response.body);
    const location = new URL(String(response.headers.location));
    const callback =
      location.origin === new URL(provider.issuer).origin
        ? location.searchParams.get('redirect_uri')
        : `${location.origin}${location.pathname}`;
    assert.ok(callback?.startsWith(`http://${hosts().domain}${PREFIX}/`), String(location));
  });

  test('/ping, /ready, /sign_out and /callback answer on every application host', async () => {
    for (const host of [...Object.values(hosts()), `x.domain.test:${port}`]) {
      assert.equal((await ask(host, `${PREFIX}/ping`)).status, 204, host);
      assert.equal((await ask(host, `${PREFIX}/ready`)).status, 200, host);
      const signOut = await ask(host, `${PREFIX}/sign_out`);
      assert.notEqual(signOut.status, 404, `${host} /sign_out: ${signOut.body}`);
      assert.ok(signOut.status < 500, `${host} /sign_out: ${signOut.status}`);
      const callback = await ask(host, `${PREFIX}/callback`);
      assert.notEqual(callback.status, 404, `${host} /callback: ${callback.body}`);
      assert.ok(callback.status < 500, `${host} /callback: ${callback.status}`);
    }
  });

  test('an unknown own endpoint is 404 on an application host too', async () => {
    assert.equal((await ask(hosts().proxy, `${PREFIX}/nothing`)).status, 404);
    assert.equal((await ask(hosts().proxy, `${PREFIX}/auth/other`)).status, 404);
  });
});
