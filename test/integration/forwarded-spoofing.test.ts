/**
 * Forwarding headers are believed only from peers in trusted_proxies. A matrix of forged
 * headers against every forward-auth flavour and proxy mode, from a trusted peer (loopback, the
 * default) and an untrusted one (trusted_proxies set to 10.0.0.0/8, so loopback is not in it):
 * only the trusted row may change a decision, and even there a header that arrives twice, holds
 * a list or contradicts its counterpart is a 400.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { rawRequest, type RawAnswer } from '../support/raw-request.ts';
import { PREFIX, startStack, type Stack } from '../support/stack.ts';

type Headers = Record<string, string | string[]>;
type Flavour = 'traefik' | 'caddy' | 'nginx' | 'envoy';

const FLAVOURS: Flavour[] = ['traefik', 'caddy', 'nginx', 'envoy'];

/** A forged header set and the flavours for which, from a trusted peer, it must be a 400. */
type Forgery = { name: string; headers: (host: string) => Headers; ambiguousFor: Flavour[] };

const FORGERIES: Forgery[] = [
  {
    name: 'X-Forwarded-Host of another host',
    headers: () => ({ 'x-forwarded-host': 'evil.example' }),
    ambiguousFor: [],
  },
  {
    name: 'X-Forwarded-Host twice',
    headers: (host) => ({ 'x-forwarded-host': [host, 'evil.example'] }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'X-Forwarded-Host as a list',
    headers: (host) => ({ 'x-forwarded-host': `${host}, evil.example` }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'X-Forwarded-Proto https',
    headers: () => ({ 'x-forwarded-proto': 'https' }),
    ambiguousFor: [],
  },
  {
    name: 'X-Forwarded-Proto twice',
    headers: () => ({ 'x-forwarded-proto': ['http', 'https'] }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'X-Forwarded-Proto of another scheme',
    headers: () => ({ 'x-forwarded-proto': 'gopher' }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'Forwarded host= alone',
    headers: () => ({ forwarded: 'host=evil.example' }),
    ambiguousFor: [],
  },
  {
    name: 'Forwarded host= disagreeing with X-Forwarded-Host',
    headers: (host) => ({ 'x-forwarded-host': host, forwarded: 'host=evil.example;proto=http' }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'Forwarded proto= disagreeing with X-Forwarded-Proto',
    headers: () => ({ 'x-forwarded-proto': 'http', forwarded: 'proto=https' }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'Forwarded with two elements',
    headers: (host) => ({ forwarded: `host=${host}, host=evil.example` }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'Forwarded twice',
    headers: (host) => ({ forwarded: [`host=${host}`, 'host=evil.example'] }),
    ambiguousFor: FLAVOURS,
  },
  {
    name: 'X-Forwarded-Uri of a public path',
    headers: () => ({ 'x-forwarded-uri': '/public/x' }),
    ambiguousFor: [],
  },
  {
    name: 'X-Forwarded-Uri twice',
    headers: () => ({ 'x-forwarded-uri': ['/private', '/public/x'] }),
    ambiguousFor: ['traefik', 'caddy'],
  },
  {
    name: 'X-Forwarded-Method twice',
    headers: () => ({ 'x-forwarded-method': ['GET', 'OPTIONS'] }),
    ambiguousFor: ['traefik', 'caddy'],
  },
  {
    name: 'X-Original-URL of a public path',
    headers: (host) => ({ 'x-original-url': `http://${host}/public/x` }),
    ambiguousFor: [],
  },
  {
    name: 'X-Original-URL twice',
    headers: (host) => ({
      'x-original-url': [`http://${host}/private`, `http://${host}/public/x`],
    }),
    ambiguousFor: ['nginx'],
  },
  {
    name: 'X-Original-Method twice',
    headers: () => ({ 'x-original-method': ['GET', 'POST'] }),
    ambiguousFor: ['nginx'],
  },
  {
    name: 'Host twice',
    headers: (host) => ({ host: [host, 'evil.example'] }),
    ambiguousFor: ['traefik', 'caddy', 'envoy'],
  },
];

function baseHeaders(flavour: Flavour, host: string): Headers {
  switch (flavour) {
    case 'traefik':
    case 'caddy':
      return {
        host,
        'x-forwarded-proto': 'http',
        'x-forwarded-host': host,
        'x-forwarded-uri': '/private',
        'x-forwarded-method': 'GET',
      };
    case 'nginx':
      return { host, 'x-original-url': `http://${host}/private`, 'x-original-method': 'GET' };
    case 'envoy':
      return { host };
  }
}

function ask(stack: Stack, flavour: Flavour, headers: Headers, cookie: string): Promise<RawAnswer> {
  const path = flavour === 'envoy' ? `${PREFIX}/auth/envoy/private` : `${PREFIX}/auth/${flavour}`;
  return rawRequest(`${stack.gatehouseUrl}${path}`, {
    headers: { accept: 'application/json', cookie, ...headers },
  });
}

describe('forwarded-header spoofing', () => {
  let trusted: Stack;
  let untrusted: Stack;
  const cookies = new Map<Stack, string>();
  before(async () => {
    const app = { skip_path_regex: ['^/public/'] };
    trusted = await startStack({ mode: 'proxy', app });
    untrusted = await startStack({
      mode: 'proxy',
      app,
      config: { trusted_proxies: ['10.0.0.0/8'] },
    });
    for (const stack of [trusted, untrusted]) {
      const browser = stack.browser();
      assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
      cookies.set(stack, browser.cookieHeader(stack.appUrl('/')));
    }
  });
  after(async () => {
    await trusted.close();
    await untrusted.close();
  });

  for (const flavour of FLAVOURS) {
    test(`${flavour}: an untrusted peer gets 400 whatever it forges; a trusted one only loses ambiguity`, async () => {
      const host = (stack: Stack) => new URL(stack.origin).host;
      const baseline = await ask(
        trusted,
        flavour,
        baseHeaders(flavour, host(trusted)),
        cookies.get(trusted)!,
      );
      assert.equal(baseline.status, 200, baseline.body);
      assert.equal(baseline.headers['x-authentik-username'], 'alice');
      const refused = await ask(
        untrusted,
        flavour,
        baseHeaders(flavour, host(untrusted)),
        cookies.get(untrusted)!,
      );
      assert.equal(refused.status, 400);

      for (const forgery of FORGERIES) {
        const forged = (stack: Stack) => ({
          ...baseHeaders(flavour, host(stack)),
          ...forgery.headers(host(stack)),
        });
        const fromUntrusted = await ask(
          untrusted,
          flavour,
          forged(untrusted),
          cookies.get(untrusted)!,
        );
        assert.equal(fromUntrusted.status, 400, `untrusted, ${forgery.name}`);
        assert.equal(fromUntrusted.headers['x-authentik-username'], undefined);

        const fromTrusted = await ask(trusted, flavour, forged(trusted), cookies.get(trusted)!);
        if (forgery.ambiguousFor.includes(flavour)) {
          assert.equal(fromTrusted.status, 400, `trusted, ${forgery.name}: ${fromTrusted.body}`);
        }
      }
    });
  }

  test('proxy mode: forwarding headers change nothing from any peer; the application never sees them', async () => {
    for (const stack of [trusted, untrusted]) {
      const host = new URL(stack.origin).host;
      for (const forgery of FORGERIES) {
        const headers = forgery.headers(host);
        const before = stack.whoami.requests.length;
        const answer = await rawRequest(stack.appUrl('/private'), {
          headers: { accept: 'application/json', cookie: cookies.get(stack)!, host, ...headers },
        });
        if (forgery.name === 'Host twice') {
          assert.equal(answer.status, 400, forgery.name);
          assert.equal(stack.whoami.requests.length, before);
          continue;
        }
        assert.equal(answer.status, 200, `${forgery.name}: ${answer.body}`);
        const seen = stack.whoami.requests.at(-1)!;
        assert.equal(seen.headers['x-authentik-username'], 'alice');
        assert.equal(seen.headers['x-forwarded-host'], host, forgery.name);
        assert.equal(seen.headers.forwarded, undefined, forgery.name);

        const anonymous = await rawRequest(stack.appUrl('/private'), {
          headers: { accept: 'application/json', host, ...headers },
        });
        assert.equal(anonymous.status, 401, `anonymous, ${forgery.name}`);
      }
    }
  });
});
