/**
 * Path confusion: every variant of a skip path or a protected path gets the decision of its
 * canonical form, or a 400, through forward auth and proxy mode alike; and whatever a client
 * sends, a 2xx from forward auth carries a validated identity or is a declared exemption.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';

import { rawRequest, type RawAnswer } from '../support/raw-request.ts';
import { PREFIX, startStack, type Stack } from '../support/stack.ts';

/** A variant and the canonical path whose decision it must get; undefined means 400. */
const VARIANTS: Array<[variant: string, canonical: string | undefined]> = [
  ['/public/x', '/public/x'],
  ['/p%75blic/x', '/public/x'],
  ['/%70ublic/%78', '/public/x'],
  ['/public//x', '/public/x'],
  ['/public/x?next=/../../admin', '/public/x'],
  ['/public/x?%2e%2e', '/public/x'],
  ['/public/../admin', undefined],
  ['/public/./x', undefined],
  ['/public/%2e%2e/admin', undefined],
  ['/public/%2E./admin', undefined],
  ['/public/..;/admin', undefined],
  ['/public%2F..%2Fadmin', undefined],
  ['/public/..%5Cadmin', undefined],
  ['/public/x%00', undefined],
  ['/public/x#/../../admin', undefined],
  ['//public/x', undefined],
  ['/public%2Fx', '/private'],
  ['/public;x/y', '/private'],
  ['/public/x;jsessionid=1', '/private'],
  ['/PUBLIC/x', '/private'],
  ['/admin', '/admin'],
  ['/admin/', '/admin/'],
  ['/%61dmin', '/admin'],
  ['/admin//x', '/admin/x'],
  ['/admin;x=1', '/admin'],
  ['/admin%2Fx', '/admin/x'],
  ['/admin%2fx', '/admin/x'],
  ['/admin/x?a=b', '/admin/x'],
  ['/admin/x/../y', undefined],
];

describe('path variants', () => {
  let stack: Stack;
  let bob: string;
  let alice: string;
  before(async () => {
    stack = await startStack({
      mode: 'proxy',
      app: {
        skip_path_regex: ['^/public/'],
        access: { rules: [{ path_prefix: '/admin', groups: ['admins'] }] },
      },
    });
    for (const [name, set] of [
      ['bob', (value: string) => (bob = value)],
      ['alice', (value: string) => (alice = value)],
    ] as const) {
      const browser = stack.browser();
      assert.equal((await browser.login(stack.appUrl('/'), name)).status, 200);
      set(browser.cookieHeader(stack.appUrl('/')));
    }
  });
  after(() => stack.close());

  function traefik(uri: string, cookie?: string): Promise<RawAnswer> {
    const host = new URL(stack.origin).host;
    return rawRequest(`${stack.gatehouseUrl}${PREFIX}/auth/traefik`, {
      headers: {
        accept: 'application/json',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': host,
        'x-forwarded-uri': uri,
        ...(cookie ? { cookie } : {}),
      },
    });
  }

  function proxied(path: string, cookie?: string): Promise<RawAnswer> {
    return rawRequest(stack.appUrl('/'), {
      path,
      headers: { accept: 'application/json', ...(cookie ? { cookie } : {}) },
    });
  }

  for (const [via, send] of [
    ['forward auth', (path: string, cookie?: string) => traefik(path, cookie)],
    ['proxy mode', (path: string, cookie?: string) => proxied(path, cookie)],
  ] as const) {
    test(`${via}: each variant gets its canonical form's decision or 400`, async () => {
      for (const who of [undefined, bob, alice]) {
        for (const [variant, canonical] of VARIANTS) {
          const answer = await send(variant, who);
          const expected = canonical === undefined ? 400 : (await send(canonical, who)).status;
          assert.equal(answer.status, expected, `${variant} as ${who ? 'signed in' : 'anonymous'}`);
        }
      }
    });
  }

  test('a refused variant reaches no application in proxy mode', async () => {
    const before = stack.whoami.requests.length;
    for (const [variant, canonical] of VARIANTS) {
      if (canonical === undefined)
        assert.equal((await proxied(variant, alice)).status, 400, variant);
    }
    assert.equal(stack.whoami.requests.length, before);
  });

  test('property: a 2xx from forward auth is a validated session or an exemption with empty headers', async () => {
    const realCookie = () => alice;
    const cookie = fc.oneof(
      fc.constant(''),
      fc.constant('real'),
      fc.constant('real-twice'),
      fc.string({ maxLength: 60 }).map((value) => `gatehouse_session_app=${value}`),
      fc.string({ maxLength: 60 }).map((value) => `gatehouse_session_app=${value}; real`),
      fc.constant(
        'gatehouse_session_app=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
      ),
    );
    const uri = fc
      .array(
        fc.constantFrom(
          '/',
          'public',
          'admin',
          'x',
          '..',
          '.',
          '%2F',
          '%2e',
          ';',
          '?',
          '#',
          '%00',
          '//',
          '%5C',
          '\\',
        ),
        { maxLength: 8 },
      )
      .map((parts) => `/${parts.join('')}`);
    const extra = fc.record(
      {
        'x-authentik-username': fc.constantFrom('admin', ''),
        authorization: fc.constantFrom('Bearer x.y.z', 'Basic YTpi'),
        'sec-fetch-mode': fc.constantFrom('navigate', 'cors', 'no-cors'),
        accept: fc.constantFrom('text/html', '*/*', 'application/json'),
        'x-forwarded-method': fc.constantFrom('GET', 'POST', 'OPTIONS', 'get', 'PROPFIND'),
        origin: fc.constant('http://evil.example'),
        'access-control-request-method': fc.constant('GET'),
      },
      { requiredKeys: [] },
    );
    const host = new URL(stack.origin).host;

    await fc.assert(
      fc.asyncProperty(cookie, uri, extra, async (cookieChoice, path, headers) => {
        const real = realCookie();
        const cookieHeader =
          cookieChoice === 'real'
            ? real
            : cookieChoice === 'real-twice'
              ? `${real}; ${real}`
              : cookieChoice.replace('; real', `; ${real}`);
        const answer = await rawRequest(`${stack.gatehouseUrl}${PREFIX}/auth/traefik`, {
          headers: {
            'x-forwarded-proto': 'http',
            'x-forwarded-host': host,
            'x-forwarded-uri': path,
            ...headers,
            ...(cookieHeader ? { cookie: cookieHeader } : {}),
          },
        });
        if (answer.status < 200 || answer.status > 299) return;
        const username = answer.headers['x-authentik-username'];
        assert.equal(typeof username, 'string', 'a 2xx always carries the identity headers');
        if (username) {
          assert.equal(username, 'alice');
          assert.ok(cookieHeader.includes(real), 'an identity only with the real cookie');
        } else {
          for (const name of [
            'x-authentik-uid',
            'x-authentik-email',
            'x-authentik-groups',
            'x-authentik-jwt',
          ])
            assert.equal(answer.headers[name], '', name);
        }
      }),
      { numRuns: 300 },
    );
  });
});
