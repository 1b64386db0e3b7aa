/**
 * Which application a Host value reaches: the exact external_host first (ports compared after
 * defaults), then the forward_domain application with the longest cookie_domain that the host is
 * on, on a dot boundary; anything else, look-alikes and malformed values included, reaches none.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { configSchema } from '../../src/config/schema.ts';
import { ApplicationRouter, buildApplication } from '../../src/server/application.ts';

type AppSpec = { name: string; external_host: string; mode?: string; cookie_domain?: string };

function routerFor(apps: AppSpec[]): ApplicationRouter {
  const config = configSchema.parse({
    secret: 'router-test-secret-that-is-at-least-32-bytes',
    session: { store: 'memory' },
    applications: apps.map((app) => ({
      mode: 'forward_single',
      ...app,
      oidc: { issuer: 'https://idp.example.net/', client_id: app.name, client_secret: 'x' },
    })),
  });
  return new ApplicationRouter(config.applications.map((app) => buildApplication(app, config)));
}

/** Each row: a Host value, the original request's scheme (if known), the application or none. */
type Row = [host: string, scheme: string | undefined, expected: string | undefined];

function assertRoutes(router: ApplicationRouter, rows: Row[]): void {
  for (const [host, scheme, expected] of rows) {
    assert.equal(
      router.route(host, scheme)?.name,
      expected,
      `${JSON.stringify(host)} (${scheme ?? 'scheme unknown'}) should reach ${expected ?? 'no application'}`,
    );
  }
}

describe('exact external_host', () => {
  const router = routerFor([
    { name: 'secure', external_host: 'https://app.example.com' },
    { name: 'plain', external_host: 'http://plain.example.com' },
    { name: 'alt', external_host: 'http://plain.example.com:8080' },
    { name: 'tls-alt', external_host: 'https://tls.example.com:8443' },
  ]);

  test('a Host without a port reaches the application on its default port', () => {
    assertRoutes(router, [
      ['app.example.com', undefined, 'secure'],
      ['app.example.com', 'https', 'secure'],
      ['plain.example.com', undefined, 'plain'],
      ['plain.example.com', 'http', 'plain'],
    ]);
  });

  test('an explicit default port is the same origin as none', () => {
    assertRoutes(router, [
      ['app.example.com:443', undefined, 'secure'],
      ['app.example.com:443', 'https', 'secure'],
      ['plain.example.com:80', undefined, 'plain'],
      ['plain.example.com:80', 'http', 'plain'],
    ]);
  });

  test('an explicit other port reaches the application configured on it', () => {
    assertRoutes(router, [
      ['plain.example.com:8080', undefined, 'alt'],
      ['plain.example.com:8080', 'http', 'alt'],
      ['tls.example.com:8443', 'https', 'tls-alt'],
    ]);
  });

  test('a port no application is configured on is refused', () => {
    assertRoutes(router, [
      ['app.example.com:80', undefined, undefined],
      ['app.example.com:80', 'http', undefined],
      ['app.example.com:8443', 'https', undefined],
      ['plain.example.com:443', undefined, undefined],
      ['plain.example.com:9090', 'http', undefined],
      ['tls.example.com', undefined, undefined],
      ['tls.example.com', 'https', undefined],
      ['tls.example.com:443', 'https', undefined],
    ]);
  });

  test('letter case and one trailing dot do not change the host', () => {
    assertRoutes(router, [
      ['APP.EXAMPLE.COM', 'https', 'secure'],
      ['App.Example.Com:443', undefined, 'secure'],
      ['app.example.com.', 'https', 'secure'],
      ['app.example.com.:443', undefined, 'secure'],
      ['PLAIN.example.com.:8080', 'http', 'alt'],
    ]);
  });

  test('look-alike hosts reach no application', () => {
    assertRoutes(router, [
      ['app.example.com.evil', 'https', undefined],
      ['app.example.com.evil:443', 'https', undefined],
      ['xapp.example.com', 'https', undefined],
      ['app-example.com', 'https', undefined],
      ['app.example.co', 'https', undefined],
      ['example.com', 'https', undefined],
      ['sub.app.example.com', 'https', undefined],
      ['app.example.com..', 'https', undefined],
    ]);
  });
});

describe('forward_domain by cookie_domain', () => {
  const router = routerFor([
    {
      name: 'outer',
      mode: 'forward_domain',
      external_host: 'https://auth.example.com',
      cookie_domain: 'example.com',
    },
    {
      name: 'inner',
      mode: 'forward_domain',
      external_host: 'https://auth.b.example.com',
      cookie_domain: '.B.Example.com',
    },
    { name: 'single', external_host: 'https://a.b.example.com' },
  ]);

  test('a host under the cookie domain reaches its application, on any port', () => {
    assertRoutes(router, [
      ['app.example.com', undefined, 'outer'],
      ['app.example.com', 'https', 'outer'],
      ['deep.app.example.com', 'https', 'outer'],
      ['example.com', 'https', 'outer'],
      ['app.example.com:8443', 'https', 'outer'],
      ['auth.example.com', 'https', 'outer'],
    ]);
  });

  test('the cookie domain matches only on a dot boundary', () => {
    assertRoutes(router, [
      ['badexample.com', 'https', undefined],
      ['xexample.com', undefined, undefined],
      ['example.com.evil', 'https', undefined],
      ['app.example.com.evil', 'https', undefined],
      ['example.comm', 'https', undefined],
      ['app.example.co', 'https', undefined],
    ]);
  });

  test('of nested cookie domains, the longer one wins', () => {
    assertRoutes(router, [
      ['x.b.example.com', 'https', 'inner'],
      ['b.example.com', 'https', 'inner'],
      ['auth.b.example.com', 'https', 'inner'],
      ['c.example.com', 'https', 'outer'],
      ['xb.example.com', 'https', 'outer'],
    ]);
  });

  test('an exact external_host wins over every cookie domain', () => {
    assertRoutes(router, [
      ['a.b.example.com', 'https', 'single'],
      ['A.B.EXAMPLE.COM.', 'https', 'single'],
      // Another port is not that application's origin, so the domain decides.
      ['a.b.example.com:8443', 'https', 'inner'],
    ]);
  });

  test('upper case and a trailing dot are the same host', () => {
    assertRoutes(router, [
      ['APP.EXAMPLE.COM', 'https', 'outer'],
      ['app.example.com.', 'https', 'outer'],
      ['X.B.Example.Com.', 'https', 'inner'],
    ]);
  });

  test("a scheme other than the external_host's reaches no domain application", () => {
    assertRoutes(router, [
      ['app.example.com', 'http', undefined],
      ['x.b.example.com', 'http', undefined],
    ]);
  });
});

describe('IPv6 literal hosts', () => {
  const router = routerFor([
    { name: 'v6', external_host: 'http://[::1]:9000' },
    {
      name: 'domain',
      mode: 'forward_domain',
      external_host: 'https://auth.example.com',
      cookie_domain: 'example.com',
    },
  ]);

  test('a bracketed address reaches the application configured on it, in any spelling', () => {
    assertRoutes(router, [
      ['[::1]:9000', undefined, 'v6'],
      ['[::1]:9000', 'http', 'v6'],
      ['[0:0:0:0:0:0:0:1]:9000', undefined, 'v6'],
      ['[0::1]:9000', 'http', 'v6'],
    ]);
  });

  test('another port, another address or no brackets reaches no application', () => {
    assertRoutes(router, [
      ['[::1]', undefined, undefined],
      ['[::1]:9001', undefined, undefined],
      ['[::2]:9000', undefined, undefined],
      ['::1', undefined, undefined],
      ['::1:9000', undefined, undefined],
      ['[::1:9000]', undefined, undefined],
      ['[::ffff:example.com]', undefined, undefined],
    ]);
  });
});

describe('malformed Host values', () => {
  const router = routerFor([
    { name: 'app', external_host: 'http://app.example.com' },
    { name: 'ip', external_host: 'http://127.0.0.1:9000' },
    {
      name: 'domain',
      mode: 'forward_domain',
      external_host: 'https://auth.example.org',
      cookie_domain: 'example.org',
    },
  ]);

  test('garbage reaches no application', () => {
    assertRoutes(router, [
      ['', undefined, undefined],
      [' ', undefined, undefined],
      ['a b', undefined, undefined],
      ['app.example.com x', undefined, undefined],
      ['a/b', undefined, undefined],
      ['app.example.com/x', undefined, undefined],
      ['app.example.com\\x', undefined, undefined],
      ['user@host', undefined, undefined],
      ['evil@app.example.com', undefined, undefined],
      ['app.example.com@evil', undefined, undefined],
      ['app.example.com?x', undefined, undefined],
      ['app.example.com#x', undefined, undefined],
      ['app.example.com:', undefined, undefined],
      ['app.example.com:80:80', undefined, undefined],
      ['app.example.com:http', undefined, undefined],
      ['app.example.com:99999', undefined, undefined],
      ['app.example.com:-80', undefined, undefined],
      ['app.example.com,evil.example', undefined, undefined],
    ]);
  });

  test('names the URL parser would rewrite into an application host reach no application', () => {
    assertRoutes(router, [
      ['app%2eexample.com', undefined, undefined],
      ['app.example.com%2e', undefined, undefined],
      ['%61pp.example.com', undefined, undefined],
      ['.example.org', 'https', undefined],
      ['x..example.org', 'https', undefined],
      ['127.1:9000', undefined, undefined],
      ['0x7f.0.0.1:9000', undefined, undefined],
      ['2130706433:9000', undefined, undefined],
      ['app_example.com', undefined, undefined],
    ]);
  });

  test('an undefined Host reaches no application', () => {
    assert.equal(router.route(undefined), undefined);
    assert.equal(router.route(undefined, 'https'), undefined);
  });

  test('the address as written reaches its application', () => {
    assertRoutes(router, [['127.0.0.1:9000', 'http', 'ip']]);
  });
});
