/**
 * Attacks on the rule that Gatehouse never fails open, that forged identity never reaches an
 * application, and that its own cookies stay its own.
 *
 * Each test names an attack and shows it is turned away; the first group are attacks that once
 * got through (another application's cookie in proxy mode, a user-info or escaped host in
 * X-Original-URL, HEAD past a GET rule).
 *
 * Most tests run a Gatehouse of their own in front of a recording whoami application, with
 * sessions minted straight into its store (`Sessions.create`, the same call a finished login
 * makes), so no provider round trip is needed. The issuer is a loopback address nothing answers
 * on: any attempt to start a login therefore ends in a 503, never an allow.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { startGatehouse, type Running } from '../../src/cli.ts';
import { configSchema } from '../../src/config/schema.ts';
import { startWhoami, type RunningWhoami } from '../../src/demo/whoami.ts';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import type { SessionStore } from '../../src/session/record.ts';
import { rawRequest, type RawAnswer } from '../support/raw-request.ts';
import { PREFIX, SECRET } from '../support/stack.ts';

const ISSUER = 'http://127.0.0.1:9/';
const ALICE = {
  sub: 'alice-sub',
  claims: {
    sub: 'alice-sub',
    preferred_username: 'alice',
    email: 'alice@example.com',
    groups: ['admins', 'staff'],
  },
  accessToken: 'alice-access-token',
};
const BOB = {
  sub: 'bob-sub',
  claims: {
    sub: 'bob-sub',
    preferred_username: 'bob',
    email: 'bob@example.com',
    groups: ['staff'],
  },
  accessToken: 'bob-access-token',
};

type Gate = {
  running: Running;
  whoami: RunningWhoami;
  url: string;
  /** A session cookie header (`name=value`) for `app`, minted into the store. */
  cookie(app: string, who: typeof ALICE): Promise<string>;
  /** Requests that reached the application since the last call. */
  reached(): RawAnswerRecord[];
  close(): Promise<void>;
};

type RawAnswerRecord = RunningWhoami['requests'][number];

async function startGate(
  applications: Array<Record<string, unknown>>,
  options: { store?: SessionStore; config?: Record<string, unknown> } = {},
): Promise<Gate> {
  const whoami = await startWhoami();
  const config = configSchema.parse({
    listen: '127.0.0.1:0',
    secret: SECRET,
    log_level: process.env.GATEHOUSE_TEST_LOG ?? 'silent',
    session: { store: 'memory' },
    applications: applications.map((app) => ({
      mode: 'proxy',
      internal_host: whoami.url,
      oidc: { issuer: ISSUER, client_id: 'client', client_secret: 'client-secret' },
      ...app,
    })),
    ...options.config,
  });
  const store = options.store ?? new MemorySessionStore();
  const running = await startGatehouse(config, { store });
  let seen = 0;
  return {
    running,
    whoami,
    url: running.url,
    async cookie(app, who) {
      const spec = running.gatehouse.router.byName(app)!.cookie;
      const { cookieValue } = await running.gatehouse.sessions.create(app, who);
      return `${spec.name}=${cookieValue}`;
    },
    reached() {
      const fresh = whoami.requests.slice(seen);
      seen = whoami.requests.length;
      return fresh;
    },
    async close() {
      await running.close();
      await whoami.close();
    },
  };
}

/** Writes `raw` on a fresh connection and returns everything the server answers. */
function rawExchange(url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(raw));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
}

function is2xx(status: number): boolean {
  return status >= 200 && status < 300;
}

// ---------------------------------------------------------------------------------------------

describe('attacks that once got through', () => {
  test('proxy mode passes another application’s session cookie on to the application', async (t) => {
    // Two proxy applications on one hostname, told apart by port. Browsers scope cookies by host,
    // not port, so a person signed in to `admin` sends its session cookie to `wiki` too; the same
    // happens for a forward_domain application's cookie on a sibling host. `wiki` may be run by
    // anyone; with the cookie it can replay the person's `admin` session.
    const gate = await startGate([
      { name: 'admin', external_host: 'http://apps.example.test:8001' },
      {
        name: 'wiki',
        external_host: 'http://apps.example.test:8002',
        skip_path_regex: ['^/public/'],
      },
    ]);
    t.after(() => gate.close());
    const adminCookie = await gate.cookie('admin', ALICE);
    const wikiCookie = await gate.cookie('wiki', BOB);

    // The cookie of `admin` really is a live session.
    const own = await rawRequest(`${gate.url}/`, {
      headers: { host: 'apps.example.test:8001', cookie: adminCookie },
    });
    assert.equal(own.status, 200);
    gate.reached();

    for (const path of ['/public/page', '/private']) {
      const answer = await rawRequest(`${gate.url}${path}`, {
        headers: {
          host: 'apps.example.test:8002',
          cookie: `${wikiCookie}; ${adminCookie}; theme=dark`,
        },
      });
      assert.equal(answer.status, 200, path);
      const [request] = gate.reached();
      const cookie = String(request?.headers.cookie ?? '');
      assert.match(cookie, /theme=dark/, 'the application’s own cookie gets through');
      assert.doesNotMatch(
        cookie,
        /gatehouse_session_/,
        `${path}: the wiki received a Gatehouse session cookie: ${cookie}`,
      );
    }
  });

  describe('nginx flavour: X-Original-URL authority that is not a plain host', () => {
    // Traefik, Caddy and proxy mode refuse a host that the URL parser would read differently from
    // a front proxy that routes on the name as written (`a.example@evil`, `app%2eexample.com`).
    // The nginx adapter reads the host from `URL.parse(X-Original-URL)` and checks only the parsed
    // result, so user info and percent-escapes in the authority pass. The README snippet sets
    // `X-Original-URL $scheme://$http_host$request_uri`: `$http_host` is the client's Host, which
    // nginx accepts with `@` or `%`, and routes to the default server (not the server of the host
    // Gatehouse then judges).
    let gate: Gate;
    let cookie: string;
    before(async () => {
      gate = await startGate([
        {
          name: 'open',
          mode: 'forward_single',
          external_host: 'http://open.example.test',
        },
        {
          name: 'secret',
          mode: 'forward_single',
          external_host: 'http://secret.example.test',
          access: { groups: ['admins'] },
        },
      ]);
      // Bob may use `open`, not `secret`.
      cookie = await gate.cookie('open', BOB);
    });
    after(() => gate.close());

    const nginx = (originalUrl: string): Promise<RawAnswer> =>
      rawRequest(`${gate.url}${PREFIX}/auth/nginx`, {
        headers: {
          host: 'secret.example.test',
          'x-original-url': originalUrl,
          'x-original-method': 'GET',
          cookie,
        },
      });

    test('the plain host is judged as itself', async () => {
      assert.equal((await nginx('http://open.example.test/')).status, 200);
    });

    for (const authority of [
      'secret.example.test@open.example.test',
      'x@open.example.test',
      'open%2eexample.test',
      'open.example%2Etest',
      'OPEN%2Eexample.test',
    ]) {
      test(`X-Original-URL: http://${authority}/ is a 400, not an allow`, async () => {
        const answer = await nginx(`http://${authority}/`);
        assert.equal(
          answer.status,
          400,
          `answered ${answer.status} with x-authentik-username=${String(answer.headers['x-authentik-username'])}`,
        );
      });
    }

    test('the Traefik flavour refuses the same authority (for comparison)', async () => {
      const answer = await rawRequest(`${gate.url}${PREFIX}/auth/traefik`, {
        headers: {
          'x-forwarded-proto': 'http',
          'x-forwarded-host': 'x@open.example.test',
          'x-forwarded-uri': '/',
          cookie,
        },
      });
      assert.equal(answer.status, 400);
    });
  });

  test('HEAD slips past an access rule written for GET, and the application serves it', async (t) => {
    // `methods: [GET]` keeps reading /admin for admins. HEAD is a GET without the body: the
    // application runs the same handler (and its side effects) and answers with the GET's headers.
    // The rule does not match HEAD, so the application-level lists (open) admit anyone.
    const gate = await startGate([
      {
        name: 'app',
        external_host: 'http://app.example.test',
        access: { rules: [{ path_prefix: '/admin', methods: ['GET'], groups: ['admins'] }] },
      },
    ]);
    t.after(() => gate.close());
    const bob = await gate.cookie('app', BOB);
    const headers = { host: 'app.example.test', cookie: bob };

    assert.equal((await rawRequest(`${gate.url}/admin`, { headers })).status, 403);
    gate.reached();
    const head = await rawRequest(`${gate.url}/admin`, { method: 'HEAD', headers });
    const reached = gate.reached();
    assert.ok(
      !is2xx(head.status) && reached.length === 0,
      `HEAD /admin answered ${head.status}; the application received ${reached.map((r) => `${r.method} ${r.url}`).join(', ')}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('defended', () => {
  let gate: Gate;
  let alice: string;
  const HOST = 'app.example.test';
  before(async () => {
    gate = await startGate([
      {
        name: 'app',
        external_host: `http://${HOST}`,
        skip_path_regex: ['^/public/'],
        access: { rules: [{ path_prefix: '/admin', groups: ['admins'] }] },
      },
      { name: 'fwd', mode: 'forward_single', external_host: 'http://fwd.example.test' },
    ]);
    alice = await gate.cookie('app', ALICE);
  });
  after(() => gate.close());

  test('request smuggling and odd request targets in proxy mode reach nothing', async () => {
    gate.reached();
    const attempts: Array<[name: string, raw: string]> = [
      [
        'Transfer-Encoding with Content-Length',
        `POST /public/x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /private HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      ],
      [
        'Transfer-Encoding twice',
        `POST /public/x HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
      ],
      [
        'obs-fold identity header',
        `GET /public/x HTTP/1.1\r\nHost: ${HOST}\r\nX-Other: a\r\n X-authentik-username: admin\r\n\r\n`,
      ],
      ['absolute-form target', `GET http://${HOST}/private HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
      [
        'absolute-form target to another host on a skip path',
        `GET http://evil.example/public/x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      ],
      ['asterisk-form', `OPTIONS * HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
      ['Host twice', `GET /private HTTP/1.1\r\nHost: evil.example\r\nHost: ${HOST}\r\n\r\n`],
      ['lower-case method', `get /private HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
      ['backslashes', `GET /public\\..\\admin HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
      [
        'websocket upgrade with absolute-form target',
        `GET http://evil.example/public/x HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ],
      [
        'preflight that is also an upgrade',
        `OPTIONS /private HTTP/1.1\r\nHost: ${HOST}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: GET\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ],
      [
        'h2c upgrade on a skip path',
        `GET /public/x HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
      ],
    ];
    for (const [name, raw] of attempts) {
      const answer = await rawExchange(gate.url, raw);
      const reached = gate.reached();
      const obsFold = name === 'obs-fold identity header';
      if (obsFold && reached.length) {
        // Node folds the line into the previous header; it never becomes an identity header.
        assert.equal(reached[0]!.headers['x-authentik-username'], '', name);
        continue;
      }
      assert.ok(!is2xx(statusOf(answer)) || name.startsWith('h2c'), `${name}: ${answer}`);
      assert.ok(
        reached.every((request) => request.url.startsWith('/public/')),
        `${name}: the application received ${reached.map((r) => `${r.method} ${r.url}`).join(', ')}`,
      );
    }
  });

  test('an exemption carries empty identity headers, whatever the client forged', async () => {
    gate.reached();
    const answer = await rawRequest(`${gate.url}/public/x`, {
      headers: {
        host: HOST,
        'x-authentik-username': 'admin',
        'X-AUTHENTIK-GROUPS': 'admins',
        x_authentik_email: 'admin@example.com',
        'x-authentik-uid': ['a', 'b'],
        'remote-user': 'admin',
        'x-forwarded-user': 'admin',
        authorization: 'Bearer forged',
        cookie: `${alice}; theme=dark`,
      },
    });
    assert.equal(answer.status, 200);
    const [request] = gate.reached();
    const headers = request!.headers;
    assert.equal(headers['x-authentik-username'], '');
    assert.equal(headers['x-authentik-groups'], '');
    assert.equal(headers['x-authentik-uid'], '');
    assert.equal(headers.x_authentik_email, undefined);
    assert.equal(headers['remote-user'], undefined);
    assert.equal(headers['x-forwarded-user'], undefined);
    assert.equal(headers.authorization, undefined, 'Authorization is stripped (intercept off)');
    assert.equal(headers.cookie, 'theme=dark');
  });

  test('a Bearer token is ignored when intercept_header_auth is off', async () => {
    const answer = await rawRequest(`${gate.url}/private`, {
      headers: { host: HOST, authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
    });
    assert.equal(answer.status, 401);
  });

  test('cookie spellings that hold no session are no session', async () => {
    const [name, value] = alice.split('=') as [string, string];
    gate.reached();
    for (const cookie of [
      `${name}=${value}, other=1`,
      `${name}=${value.slice(0, -1)}`,
      `${name}="${value}`,
      `${name} = ${value}x`,
      `${name}=x; ${name}=y`,
      `${name.toUpperCase()}=${value}`,
      `${name}=${value.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`,
      `x=${'a'.repeat(12_000)}; ${name}=garbage`,
    ]) {
      const answer = await rawRequest(`${gate.url}/private`, { headers: { host: HOST, cookie } });
      assert.ok(!is2xx(answer.status), `${cookie.slice(0, 80)}: ${answer.status}`);
    }
    assert.equal(gate.reached().length, 0);
  });

  test('a session of one application is no session on another (forward auth)', async () => {
    const answer = await rawRequest(`${gate.url}${PREFIX}/auth/traefik`, {
      headers: {
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'fwd.example.test',
        'x-forwarded-uri': '/',
        // The cookie value of `app` under the name of `fwd`.
        cookie: alice.replace('gatehouse_session_app', 'gatehouse_session_fwd'),
      },
    });
    assert.equal(answer.status, 401);
  });

  test('forward-auth inputs that could be read two ways are a 400', async () => {
    const traefik = (headers: Record<string, string | string[]>) =>
      rawRequest(`${gate.url}${PREFIX}/auth/traefik`, {
        headers: { 'x-forwarded-proto': 'http', cookie: alice, ...headers },
      });
    const cases: Array<Record<string, string | string[]>> = [
      { 'x-forwarded-host': HOST, 'x-forwarded-uri': 'public/x' },
      { 'x-forwarded-host': HOST, 'x-forwarded-uri': '//evil.example/public/x' },
      { 'x-forwarded-host': HOST, 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'get' },
      { 'x-forwarded-host': HOST, 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'G\tET' },
      { 'x-forwarded-host': `${HOST}:80@evil.example`, 'x-forwarded-uri': '/' },
      { 'x-forwarded-host': `${HOST}/public/`, 'x-forwarded-uri': '/' },
      { 'x-forwarded-host': [HOST, 'evil.example'], 'x-forwarded-uri': '/public/x' },
    ];
    for (const headers of cases) {
      const answer = await traefik(headers);
      assert.equal(answer.status, 400, JSON.stringify(headers));
    }
  });

  test('an encoded ? in an envoy check path is part of the path, not a query', async () => {
    for (const path of ['/admin%3F/public/x', '/admin%3f/../public/x', '/x/%2e%2e/public/x']) {
      const answer = await rawRequest(gate.url, {
        path: `${PREFIX}/auth/envoy${path}`,
        headers: { host: HOST, accept: 'application/json' },
      });
      assert.ok(!is2xx(answer.status), `${path}: ${answer.status}`);
    }
  });

  test('sign_out never sends the browser off the application’s origin', async () => {
    for (const rd of [
      'https://evil.example/',
      '//evil.example/',
      '/\\evil.example',
      '/%5Cevil.example',
      `http://${HOST}@evil.example/`,
      'javascript:alert(1)',
    ]) {
      const answer = await rawRequest(
        `${gate.url}${PREFIX}/sign_out?rd=${encodeURIComponent(rd)}`,
        { headers: { host: HOST } },
      );
      const location = String(answer.headers.location ?? `http://${HOST}/`);
      assert.equal(new URL(location).origin, `http://${HOST}`, `${rd} -> ${location}`);
    }
  });

  test('an unknown host gets a 404 in proxy mode, a forward-auth host gets no proxying', async () => {
    gate.reached();
    for (const host of [
      'evil.example',
      'fwd.example.test',
      `${HOST}.evil.example`,
      'APP%2eexample.test',
    ]) {
      const answer = await rawRequest(`${gate.url}/public/x`, { headers: { host } });
      assert.ok([400, 404].includes(answer.status), `${host}: ${answer.status}`);
    }
    assert.equal(gate.reached().length, 0);
  });

  test('a store that throws something other than a store error is never an allow', async (t) => {
    const failing = new MemorySessionStore();
    const broken = await startGate(
      [
        { name: 'app', external_host: `http://${HOST}` },
        { name: 'fwd', mode: 'forward_single', external_host: 'http://fwd.example.test' },
      ],
      { store: failing },
    );
    t.after(() => broken.close());
    const cookie = await broken.cookie('app', ALICE);
    const fwdCookie = await broken.cookie('fwd', ALICE);
    // A bug in a store (or in a record it returns), not an outage.
    failing.get = () => Promise.reject(new TypeError('Cannot read properties of undefined'));

    const proxied = await rawRequest(`${broken.url}/`, { headers: { host: HOST, cookie } });
    assert.ok(!is2xx(proxied.status), `proxy mode: ${proxied.status}`);
    for (const flavour of ['traefik', 'caddy']) {
      const answer = await rawRequest(`${broken.url}${PREFIX}/auth/${flavour}`, {
        headers: {
          'x-forwarded-proto': 'http',
          'x-forwarded-host': 'fwd.example.test',
          'x-forwarded-uri': '/',
          cookie: fwdCookie,
        },
      });
      assert.ok(!is2xx(answer.status), `${flavour}: ${answer.status}`);
    }
    const upgrade = await rawExchange(
      broken.url,
      `GET / HTTP/1.1\r\nHost: ${HOST}\r\nCookie: ${cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    assert.ok(!is2xx(statusOf(upgrade)) && statusOf(upgrade) !== 101, upgrade);
    assert.equal(broken.reached().length, 0);
  });
});
