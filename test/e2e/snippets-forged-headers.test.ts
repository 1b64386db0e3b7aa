/**
 * The README's nginx and Caddy snippets, run by the real servers in front of a stand-in
 * for Gatehouse: whatever identity or forwarding headers a client forges, the
 * application sees only what the auth answer says, and Gatehouse sees the real request.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { after, before, describe, test } from 'node:test';

import { requireBinary } from '../support/binaries.ts';
import { startCaddy, type RunningCaddy } from '../support/caddy.ts';
import { startNginx, type RunningNginx } from '../support/nginx.ts';
import { freePort } from '../support/ports.ts';

const nginx = requireBinary('nginx');
const caddy = requireBinary('caddy');

const IDENTITY_HEADERS = [
  'username',
  'groups',
  'email',
  'name',
  'uid',
  'jwt',
  'meta-app',
  'meta-provider',
  'meta-outpost',
].map((suffix) => `X-authentik-${suffix}`);

/** Every way a client might spell an identity header to slip past a case-exact filter. */
const FORGED: string[] = [
  'X-authentik-username', 'mallory',
  'x-authentik-username', 'mallory',
  'X-AUTHENTIK-USERNAME', 'mallory',
  'X_authentik_username', 'mallory',
  'x-authentik_username', 'mallory',
  'X_AUTHENTIK-USERNAME', 'mallory',
  'X-authentik-groups', 'admins',
  'X_authentik_groups', 'admins',
  'x-Authentik-Meta_App', 'mallory',
  'X-authentik-jwt', 'mallory',
]; // prettier-ignore

/** Forwarding headers a client might send to make Gatehouse judge another URL. */
const SPOOFED_FORWARDING: string[] = [
  'X-Original-URL', 'http://other.example.test/public/spoofed',
  'X-Original-Method', 'OPTIONS',
  'X-Forwarded-Host', 'other.example.test',
  'X-Forwarded-Proto', 'https',
  'X-Forwarded-Uri', '/public/spoofed',
  'X-Forwarded-Method', 'OPTIONS',
]; // prettier-ignore

const REFUSALS: Record<string, { status: number; headers: Record<string, string | string[]> }> = {
  '/login': {
    status: 401,
    headers: {
      Location: '/outpost.goauthentik.io/start?rd=%2Flogin',
      'Set-Cookie': ['flow=one; Path=/', 'other=two; Path=/'],
    },
  },
  '/api': { status: 401, headers: {} },
  '/deny': { status: 403, headers: {} },
  '/down': { status: 503, headers: { 'Retry-After': '5' } },
};

interface Recorded {
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

/**
 * Stands in for Gatehouse: `/login` needs a login (401 with its URL, as the nginx
 * flavour answers), `/api` a bare 401, `/deny` is forbidden, `/down` has no store; all
 * else is allowed, with an identity except under `/public`.
 */
class StandInGatehouse {
  readonly seen = new Map<string, Recorded>();
  readonly server: Server = createServer((req, res) => {
    this.seen.set(String(req.headers['x-test-id']), record(req));

    const original = String(req.headers['x-original-url'] ?? req.headers['x-forwarded-uri'] ?? '');
    const path = original.replace(/^https?:\/\/[^/]+/, '');
    const refusal = REFUSALS[path];
    if (refusal !== undefined) {
      res.writeHead(refusal.status, refusal.headers).end();
      return;
    }

    const anonymous = path.startsWith('/public');
    for (const name of IDENTITY_HEADERS) res.setHeader(name, anonymous ? '' : 'alice');
    res.setHeader('X-authentik-groups', anonymous ? '' : 'staff');
    res.end();
  });
}

/** Stands in for the application: answers with the request headers it received. */
let applicationHits = 0;
const application = createServer((req, res) => {
  applicationHits += 1;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(record(req)));
});

const gatehouse = new StandInGatehouse();
let gatehousePort = 0;
let applicationPort = 0;
let nextId = 0;

before(async () => {
  gatehousePort = await listen(gatehouse.server);
  applicationPort = await listen(application);
});

after(() => {
  gatehouse.server.close();
  application.close();
});

describe('the nginx snippet', { skip: nginx.skip }, () => {
  let proxy: RunningNginx;
  let host = '';

  before(async () => {
    const port = await freePort();
    host = `app.example.test:${port}`;
    const config = await readSnippet('nginx/app.conf', { '127.0.0.1:8000': `127.0.0.1:${port}` });
    proxy = await startNginx({ config });
  });
  after(() => proxy?.close());

  specifyForgedHeaders(() => ({ port: proxy.port, host, logs: proxy.logs() }));

  test('Gatehouse is asked about the real URL and method, never a forged one', async () => {
    const { id } = await send(proxy.port, host, 'POST', '/private?x=1', SPOOFED_FORWARDING);

    const asked = gatehouse.seen.get(id);
    assert.ok(asked, 'the auth endpoint was not called');
    assert.equal(asked.headers['x-original-url'], `http://${host}/private?x=1`);
    assert.equal(asked.headers['x-original-method'], 'POST');
  });

  test('a refusal never reaches the application, and a login URL becomes a redirect', async () => {
    applicationHits = 0;
    const login = await send(proxy.port, host, 'GET', '/login', FORGED);
    assert.equal(login.status, 302);
    assert.equal(login.location, `http://${host}/outpost.goauthentik.io/start?rd=%2Flogin`);
    assert.deepEqual(login.cookies, ['flow=one; Path=/'], 'nginx passes on the first cookie');

    assert.equal((await send(proxy.port, host, 'GET', '/api', FORGED)).status, 401);
    assert.equal((await send(proxy.port, host, 'GET', '/deny', FORGED)).status, 403);
    assert.equal((await send(proxy.port, host, 'GET', '/down', FORGED)).status, 500);
    assert.equal(applicationHits, 0);
  });
});

describe('the Caddy snippet', { skip: caddy.skip }, () => {
  let proxy: RunningCaddy;
  let host = '';

  before(async () => {
    const port = await freePort();
    host = `app.example.test:${port}`;
    const caddyfile = await readSnippet('caddy/Caddyfile', { 'app.example.test:8000': host });
    proxy = await startCaddy({ caddyfile });
  });
  after(() => proxy?.close());

  specifyForgedHeaders(() => ({ port: proxy.port, host, logs: proxy.logs() }));

  test('Gatehouse is asked about the real URL and method, never a forged one', async () => {
    const { id } = await send(proxy.port, host, 'POST', '/private?x=1', SPOOFED_FORWARDING);

    const asked = gatehouse.seen.get(id);
    assert.ok(asked, 'the auth endpoint was not called');
    assert.equal(asked.headers['x-forwarded-host'], host);
    assert.equal(asked.headers['x-forwarded-proto'], 'http');
    assert.equal(asked.headers['x-forwarded-uri'], '/private?x=1');
    assert.equal(asked.headers['x-forwarded-method'], 'POST');
  });

  test('a refusal never reaches the application and goes to the client whole', async () => {
    applicationHits = 0;
    const login = await send(proxy.port, host, 'GET', '/login', FORGED);
    assert.equal(login.status, 401);
    assert.equal(login.location, '/outpost.goauthentik.io/start?rd=%2Flogin');
    assert.deepEqual(login.cookies, ['flow=one; Path=/', 'other=two; Path=/']);

    assert.equal((await send(proxy.port, host, 'GET', '/api', FORGED)).status, 401);
    assert.equal((await send(proxy.port, host, 'GET', '/deny', FORGED)).status, 403);
    assert.equal((await send(proxy.port, host, 'GET', '/down', FORGED)).status, 503);
    assert.equal(applicationHits, 0);
  });
});

interface ProxyUnderTest {
  port: number;
  host: string;
  logs: string;
}

function specifyForgedHeaders(proxy: () => ProxyUnderTest): void {
  test('an allow without identity (a skipped path) passes no forged identity', async () => {
    const { port, host, logs } = proxy();
    const { status, received } = await send(port, host, 'GET', '/public/page', FORGED);

    assert.equal(status, 200, logs);
    assert.ok(received.rawHeaders.length > 0, 'the request did not reach the application');
    assert.ok(!received.rawHeaders.includes('mallory'), received.rawHeaders.join('\n'));
    for (const [name, value] of identityHeaders(received)) {
      assert.equal(value, '', `the application got ${name}: ${value}`);
    }
  });

  test('an allow with identity passes exactly that identity', async () => {
    const { port, host, logs } = proxy();
    const { status, received } = await send(port, host, 'GET', '/private', FORGED);

    assert.equal(status, 200, logs);
    assert.ok(!received.rawHeaders.includes('mallory'), received.rawHeaders.join('\n'));
    const identity = identityHeaders(received);
    assert.deepEqual(
      identity.filter(([name]) => name === 'x-authentik-username').map(([, value]) => value),
      ['alice'],
    );
    for (const [name, value] of identity) {
      assert.ok(value === 'alice' || value === 'staff', `the application got ${name}: ${value}`);
    }
  });
}

/** The identity headers the application got, names normalised to lower case with `-` for `_`. */
function identityHeaders(received: Recorded): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (let i = 0; i < received.rawHeaders.length; i += 2) {
    const name = received.rawHeaders[i]!.toLowerCase().replaceAll('_', '-');
    if (name.startsWith('x-authentik')) found.push([name, received.rawHeaders[i + 1]!]);
  }
  return found;
}

interface Exchange {
  id: string;
  status: number;
  location: string | undefined;
  cookies: string[];
  /** What the application received; empty when the request did not reach it. */
  received: Recorded;
}

/** Sends one request through the proxy; `raw` headers go out exactly as spelled. */
function send(
  port: number,
  host: string,
  method: string,
  path: string,
  raw: string[],
): Promise<Exchange> {
  const id = String(++nextId);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: ['Host', host, 'X-Test-Id', id, 'Content-Length', '0', ...raw],
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const fromApplication = res.headers['content-type'] === 'application/json';
          resolve({
            id,
            status: res.statusCode ?? 0,
            location: res.headers.location,
            cookies: res.headers['set-cookie'] ?? [],
            received: fromApplication ? JSON.parse(body) : { headers: {}, rawHeaders: [] },
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function record(req: IncomingMessage): Recorded {
  return { headers: req.headers, rawHeaders: req.rawHeaders };
}

/** An example file with its placeholder addresses replaced by this run's ports. */
async function readSnippet(name: string, replacements: Record<string, string>): Promise<string> {
  const text = await readFile(new URL(`../../examples/${name}`, import.meta.url), 'utf8');
  const all = {
    ...replacements,
    '127.0.0.1:9000': `127.0.0.1:${gatehousePort}`,
    '127.0.0.1:8080': `127.0.0.1:${applicationPort}`,
  };
  let result = text;
  for (const [from, to] of Object.entries(all)) {
    assert.ok(result.includes(from), `the snippet no longer mentions ${from}`);
    result = result.replaceAll(from, to);
  }
  return result;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no port'));
      else resolve(address.port);
    });
  });
}
