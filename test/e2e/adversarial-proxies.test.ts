/**
 * Attacks a client can make through the README's reverse-proxy setups, run by a real nginx and
 * a real Caddy with exactly the example files in front of real Gatehouse: Host header tricks,
 * absolute-form request lines, paths that the proxy and Gatehouse might normalise differently,
 * the internal auth location, long requests, HEAD, OPTIONS, chunked bodies and upgrades, and in
 * domain mode, hosts and return targets around the cookie domain.
 *
 * Gatehouse here answers for the README's application and two public neighbours
 * (`skip_path_regex: ['^/']`), as one Gatehouse usually does for several applications:
 * `public.example.test` on the proxy's port, and `app.example.test` on another port. An attack
 * wins when the protected application's backend is reached without a session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { RecordedRequest } from '../../src/demo/whoami.ts';
import { requireBinary } from '../support/binaries.ts';
import { startDomainBehindCaddy, type DomainDeployment } from '../support/domain-caddy.ts';
import { startBehindProxy, type ProxiedDeployment, type ReverseProxy } from '../support/e2e.ts';
import { freePort } from '../support/ports.ts';
import {
  addNeighbours,
  startHardenedNginx,
  type HardenedNginx,
} from '../support/proxy-neighbours.ts';
import { rawRequest, type RawAnswer } from '../support/raw-request.ts';
import { PREFIX } from '../support/stack.ts';

const nginx = requireBinary('nginx');
const caddy = requireBinary('caddy');
const SKIP = { nginx: nginx.skip, caddy: caddy.skip };

const WEBSOCKET = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

type Attempt = { method?: string; path?: string; headers?: Record<string, string | string[]> };

/** A README deployment plus the two public neighbours; `url` is on the protected site. */
interface Setup {
  deployment: ProxiedDeployment;
  port: string;
  otherPort: number;
}

async function startSetup(proxy: ReverseProxy): Promise<Setup> {
  const deployment = await startBehindProxy(proxy, { app: { skip_path_regex: ['^/public/'] } });
  const port = new URL(deployment.origin).port;
  const otherPort = await freePort();
  try {
    await addNeighbours(deployment.stack, [
      { name: 'public', external_host: `http://public.example.test:${port}` },
      { name: 'portal', external_host: `http://app.example.test:${otherPort}` },
    ]);
  } catch (error) {
    await deployment.close();
    throw error;
  }
  return { deployment, port, otherPort };
}

/** Sends one raw request through the proxy; returns the answer and what the backend received. */
async function attempt(
  setup: Setup,
  request: Attempt,
): Promise<{ answer: RawAnswer; reached: RecordedRequest[] }> {
  const requests = setup.deployment.stack.whoami.requests;
  const before = requests.length;
  const answer = await rawRequest(setup.deployment.url('/secret'), request);
  return { answer, reached: requests.slice(before) };
}

/**
 * The protected backend was not reached and the client got no success. With `unserved`, Caddy's
 * empty 200 for a Host it has no site for counts as a refusal too: nothing answered it.
 */
function assertRefused(
  result: { answer: RawAnswer; reached: RecordedRequest[] },
  logs: string,
  unserved = false,
) {
  assert.deepEqual(
    result.reached.map((request) => request.url),
    [],
    `the application was reached\n${logs}`,
  );
  if (unserved && result.answer.status === 200 && result.answer.body === '') return;
  assert.ok(
    result.answer.status >= 300,
    `expected a refusal, got ${result.answer.status}\n${logs}`,
  );
}

for (const proxy of ['nginx', 'caddy'] as const) {
  describe(`${proxy} with the README snippet: defended`, { skip: SKIP[proxy] }, () => {
    let setup: Setup;
    before(async () => {
      setup = await startSetup(proxy);
    });
    after(() => setup?.deployment.close());
    const logs = (): string => setup.deployment.logs();

    test("the application's own name in upper case or with a trailing dot is judged as the application", async () => {
      for (const host of [`APP.EXAMPLE.TEST:${setup.port}`, `app.example.test.:${setup.port}`]) {
        assertRefused(
          await attempt(setup, { headers: { host } }),
          `${host}\n${logs()}`,
          proxy === 'caddy',
        );
      }
    });

    test('a Host that is no application, or no plain host, reaches nothing', async () => {
      for (const host of [
        'app.example.test',
        `evil.example:${setup.port}`,
        `app.example.test:${setup.port}@evil.example`,
        `app.example.test:${setup.port}/x`,
      ]) {
        assertRefused(
          await attempt(setup, { headers: { host } }),
          `${host}\n${logs()}`,
          proxy === 'caddy',
        );
      }
    });

    test('forwarding headers sent by the client cannot name another application', async () => {
      const neighbour = `public.example.test:${setup.port}`;
      const forged: Array<Record<string, string>> = [
        { forwarded: `host=${neighbour}` },
        { 'x-forwarded-host': neighbour },
        { 'x-original-url': `http://${neighbour}/secret` },
        { 'x-forwarded-uri': '/public/x', 'x-original-uri': '/public/x' },
        { 'x-forwarded-proto': 'https', 'x-original-method': 'OPTIONS' },
      ];
      for (const headers of forged) {
        assertRefused(await attempt(setup, { headers }), `${JSON.stringify(headers)}\n${logs()}`);
      }
    });

    test('the auth endpoints asked directly through the proxy reach no application', async () => {
      for (const path of [
        `${PREFIX}/auth/nginx`,
        `${PREFIX}/auth/%6Eginx`,
        `${PREFIX}//auth/nginx`,
        `${PREFIX}/auth/./nginx`,
        `${PREFIX}/auth/nginx/`,
        `${PREFIX}/auth/caddy`,
        `${PREFIX}/auth/traefik`,
      ]) {
        const result = await attempt(setup, {
          path,
          headers: {
            'x-original-url': `http://public.example.test:${setup.port}/public/x`,
            'x-forwarded-host': `public.example.test:${setup.port}`,
            'x-forwarded-uri': '/secret',
          },
        });
        assert.deepEqual(result.reached, [], `${path} reached the application\n${logs()}`);
        // nginx's own-endpoint location overwrites X-Forwarded-Host; Caddy passes the request
        // from a client on loopback, so only the answer to that client is at stake.
        assert.equal(result.answer.headers['x-authentik-username'], undefined, path);
      }
    });

    test('dot segments and encoded variants around the own-endpoint prefix reach nothing', async () => {
      for (const path of [
        `${PREFIX}/../secret`,
        `${PREFIX}/%2e%2e/secret`,
        `${PREFIX}/%2E%2E/public/../secret`,
        `${PREFIX}%2f..%2fsecret`,
        `${PREFIX}/..%2fsecret`,
        `/public/../secret`,
        `/public/%2e%2e/secret`,
        `/public%2f..%2fsecret`,
        `/public/..;/secret`,
        `/secret/../outpost.goauthentik.io/start`,
        `/secret/%2e%2e${PREFIX}/start`,
      ]) {
        assertRefused(await attempt(setup, { path }), `${path}\n${logs()}`);
      }
    });

    test('a path that only starts like the own-endpoint prefix is checked like any other', async () => {
      for (const path of [
        '/outpost.goauthentik.ioX/secret',
        '/outpost.goauthentik.io',
        '/OUTPOST.goauthentik.io/secret',
        '/outpost.goauthentik.io./secret',
        '/outpost%2egoauthentik.io/secret',
      ]) {
        assertRefused(await attempt(setup, { path }), `${path}\n${logs()}`);
      }
    });

    test('very long URLs and headers are refused or judged, never passed unchecked', async () => {
      const requests: Attempt[] = [
        { path: `/secret/${'a'.repeat(7000)}` },
        { path: `/secret/${'a'.repeat(9000)}` },
        { path: `/public/${'a'.repeat(9000)}` },
        { headers: { cookie: `x=${'a'.repeat(7000)}` } },
        { headers: { 'x-padding': 'a'.repeat(7000) } },
      ];
      for (const request of requests) {
        assertRefused(await attempt(setup, request), `${JSON.stringify(request).slice(0, 80)}`);
      }
    });

    test('HEAD, OPTIONS and CORS preflights without a session reach nothing', async () => {
      for (const request of [
        { method: 'HEAD' },
        { method: 'OPTIONS' },
        {
          method: 'OPTIONS',
          headers: { origin: 'http://evil.example', 'access-control-request-method': 'DELETE' },
        },
        { method: 'TRACE' },
      ]) {
        assertRefused(await attempt(setup, request), `${request.method}\n${logs()}`);
      }
    });

    test('a chunked POST without a session never reaches the application', async () => {
      const result = await attempt(setup, {
        method: 'POST',
        headers: { 'transfer-encoding': 'chunked', 'content-type': 'text/plain' },
      });
      assertRefused(result, logs());
    });

    test('a WebSocket upgrade without a session never reaches the application', async () => {
      assertRefused(await attempt(setup, { headers: WEBSOCKET }), logs());
    });
  });
}

describe(
  'Caddy: absolute-form request lines are judged as Caddy routes them',
  { skip: caddy.skip },
  () => {
    let setup: Setup;
    before(async () => {
      setup = await startSetup('caddy');
    });
    after(() => setup?.deployment.close());

    test('the protected host in the request line with the public host in Host', async () => {
      const result = await attempt(setup, {
        path: `http://app.example.test:${setup.port}/secret`,
        headers: { host: `public.example.test:${setup.port}` },
      });
      assertRefused(result, setup.deployment.logs());
    });
  },
);

describe('domain mode behind Caddy: defended', { skip: caddy.skip }, () => {
  let deployment: DomainDeployment;
  before(async () => {
    deployment = await startDomainBehindCaddy();
  });
  after(() => deployment?.close());

  test("a site's name with another port is judged as that site, not as the application on that port", async () => {
    const otherPort = await freePort();
    await addNeighbours(deployment.stack, [
      { name: 'portal', external_host: `http://app.example.test:${otherPort}` },
    ]);
    const before = deployment.stack.whoami.requests.length;

    const answer = await rawRequest(`http://127.0.0.1:${deployment.port}/secret`, {
      headers: { host: `app.example.test:${otherPort}` },
    });

    assert.ok(
      answer.status >= 300,
      `expected a refusal, got ${answer.status}\n${deployment.logs()}`,
    );
    assert.equal(deployment.stack.whoami.requests.length, before, deployment.logs());
  });

  test('a host under the cookie domain that Caddy does not serve reaches no application', async () => {
    const before = deployment.stack.whoami.requests.length;
    const cookie = `gatehouse_session_app=forged`;
    for (const host of ['other.example.test', 'example.test', 'x.app.example.test']) {
      await rawRequest(`http://${host}:${deployment.port}/`, { headers: { cookie } });
    }
    assert.equal(deployment.stack.whoami.requests.length, before, deployment.logs());
  });

  test("the auth host's /start sends a signed-in browser only to a sibling on its scheme and port", async () => {
    const browser = deployment.stack.browser();
    const page = await browser.login(deployment.url('app', '/'), 'alice');
    assert.equal(page.status, 200, `${page.body}\n${deployment.logs()}`);
    const root = deployment.url('auth', '/');
    const port = deployment.port;

    const cases: Array<[string, string]> = [
      [`http://app2.example.test:${port}/x?y=1`, `http://app2.example.test:${port}/x?y=1`],
      [`http://app2.example.test:${port + 1}/x`, root],
      [`https://app2.example.test:${port}/x`, root],
      [`http://app2.example.test/x`, root],
      [`http://app2.example.test.:${port}/x`, root],
      [`http://badexample.test:${port}/x`, root],
      [`http://example.test.evil.example:${port}/x`, root],
      [`http://alice@app2.example.test:${port}/x`, root],
      [`http://app2.example.test:${port}@evil.example/x`, root],
      [`http://app2.example.test:${port}${PREFIX}/sign_out`, root],
      [`//evil.example/x`, root],
      [`/%2F%2Fevil.example/x`, root],
    ];
    for (const [rd, expected] of cases) {
      const start = `${deployment.url('auth', `${PREFIX}/start`)}?rd=${encodeURIComponent(rd)}`;
      const answer = await browser.request(start);
      assert.ok([302, 303].includes(answer.status), `${rd}: ${answer.status} ${answer.body}`);
      const location = new URL(answer.headers.location!, start).href;
      // A trailing-dot host is a distinct origin for the browser; it must not be kept.
      assert.equal(location, expected, rd);
    }
  });

  test('the session cookie is scoped to the cookie domain and nothing wider', async () => {
    const browser = deployment.stack.browser();
    await browser.login(deployment.url('app', '/'), 'alice');
    const session = browser
      .cookies()
      .find((cookie) => cookie.name.startsWith('gatehouse_session_'));
    assert.ok(session, 'no session cookie');
    assert.equal(session.domain?.replace(/^\./, ''), 'example.test');
    assert.equal(session.httpOnly, true);
  });
});

describe('attacks that get through', () => {
  describe('nginx with the README snippet', { skip: nginx.skip }, () => {
    let setup: Setup;
    before(async () => {
      setup = await startSetup('nginx');
    });
    after(() => setup?.deployment.close());

    test(
      "a Host naming another Gatehouse application is judged as that application, and nginx's only server proxies to the protected backend",
      {},
      async () => {
        const result = await attempt(setup, {
          headers: { host: `public.example.test:${setup.port}` },
        });
        assertRefused(result, setup.deployment.logs());
      },
    );

    test(
      "a Host with the application's name and another port is judged as the application on that port",
      {},
      async () => {
        const result = await attempt(setup, {
          headers: { host: `app.example.test:${setup.otherPort}` },
        });
        assertRefused(result, setup.deployment.logs());
      },
    );
  });

  describe(
    'nginx with a default_server that drops unknown hosts and one snippet per site',
    { skip: nginx.skip },
    () => {
      let hardened: HardenedNginx;
      before(async () => {
        hardened = await startHardenedNginx();
      });
      after(() => hardened?.close());

      test(
        'an absolute-form request line picks the protected server, while Host names the public one',
        {},
        async () => {
          const requests = hardened.stack.whoami.requests;
          const before = requests.length;
          const answer = await rawRequest(`http://127.0.0.1:${hardened.port}/`, {
            path: `http://app.example.test:${hardened.port}/secret`,
            headers: { host: `public.example.test:${hardened.port}` },
          });
          assert.deepEqual(
            requests.slice(before).map((request) => request.url),
            [],
            `the protected application was reached (${answer.status})\n${hardened.logs()}`,
          );
        },
      );
    },
  );

  describe('Caddy with the README snippet', { skip: caddy.skip }, () => {
    let setup: Setup;
    before(async () => {
      setup = await startSetup('caddy');
    });
    after(() => setup?.deployment.close());

    test(
      "a Host with the site's name and another port is judged as the application on that port",
      {},
      async () => {
        const result = await attempt(setup, {
          headers: { host: `app.example.test:${setup.otherPort}` },
        });
        assertRefused(result, setup.deployment.logs());
      },
    );
  });
});

for (const proxy of ['nginx', 'caddy'] as const) {
  test(
    `${proxy}: a signed-in browser cannot read its own identity headers from a forward-auth endpoint`,
    { skip: SKIP[proxy] },
    async (t) => {
      const deployment = await startBehindProxy(proxy);
      t.after(() => deployment.close());
      const browser = deployment.stack.browser();
      assert.equal((await browser.login(deployment.url('/'), 'alice')).status, 200);

      for (const flavour of ['traefik', 'caddy', 'nginx', 'envoy/x']) {
        const answer = await browser.request(deployment.url(`${PREFIX}/auth/${flavour}`), {
          headers: {
            'x-forwarded-proto': 'http',
            'x-forwarded-host': new URL(deployment.origin).host,
            'x-forwarded-uri': '/',
          },
        });
        assert.equal(answer.status, 404, `${flavour}: ${answer.status}`);
        assert.equal(answer.headers['x-authentik-jwt'], undefined, flavour);
      }
    },
  );
}
