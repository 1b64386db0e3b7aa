import assert from 'node:assert/strict';
import { test } from 'node:test';

import { configSchema } from '../../src/config/schema.ts';
import { resolveReturnUrl } from '../../src/oidc/return-url.ts';
import { buildApplication, type Application } from '../../src/server/application.ts';

function application(app: Record<string, unknown>): Application {
  const config = configSchema.parse({
    secret: 'a-secret-of-at-least-thirty-two-bytes!',
    applications: [
      {
        name: 'app',
        mode: 'forward_single',
        oidc: { issuer: 'https://idp.example.com/', client_id: 'app', client_secret: 's' },
        ...app,
      },
    ],
  });
  return buildApplication(config.applications[0]!, config);
}

const single = application({ external_host: 'https://app.example.com' });
const ROOT = 'https://app.example.com/';

const HOSTILE: Array<[what: string, target: string | null | undefined]> = [
  ['nothing', undefined],
  ['null', null],
  ['an empty target', ''],
  ['a protocol-relative host', '//evil.example'],
  ['a protocol-relative host with a path', '//evil.example/app.example.com'],
  ['three slashes', '///evil.example'],
  ['a backslash after the slash', '/\\evil.example'],
  ['a backslash pair', '\\\\evil.example'],
  ['encoded slashes', '/%2F%2Fevil.example'],
  ['an encoded second slash', '/%2fevil.example'],
  ['an encoded backslash', '/%5Cevil.example'],
  ['a tab between the slashes', '/\t/evil.example'],
  ['a leading tab', '\t//evil.example'],
  ['a newline', '/\n/evil.example'],
  ['an encoded CR LF', '/%0d%0aSet-Cookie:%20x=y'],
  ['a leading space', ' https://evil.example/'],
  ['userinfo on the own host', 'https://user:pass@app.example.com/'],
  ['the own host as userinfo of another', 'https://app.example.com@evil.example/'],
  ['a backslash before an at sign', 'https://app.example.com\\@evil.example/'],
  ['another host', 'https://evil.example/'],
  ['a host that ends like the own one', 'https://evil-app.example.com/'],
  ['a host that starts like the own one', 'https://app.example.com.evil.example/'],
  ['a sibling host without a cookie domain', 'https://app2.example.com/'],
  ['another scheme on the own host', 'http://app.example.com/'],
  ['another port on the own host', 'https://app.example.com:8443/'],
  ['a scheme without slashes to another host', 'https:evil.example'],
  ['ftp', 'ftp://app.example.com/'],
  ['javascript:', 'javascript:alert(document.cookie)'],
  ['javascript: in mixed case', 'JaVaScRiPt:alert(1)'],
  ['javascript: after a slash path', 'javascript://app.example.com/%0aalert(1)'],
  ['data:', 'data:text/html,<script>alert(1)</script>'],
  ['the start endpoint', '/outpost.goauthentik.io/start?rd=/x'],
  ['the callback, absolute', 'https://app.example.com/outpost.goauthentik.io/callback?code=x'],
  ['sign_out', '/outpost.goauthentik.io/sign_out'],
  ['the prefix itself', '/outpost.goauthentik.io'],
  ['the prefix in upper case', '/OUTPOST.goauthentik.io/start'],
  ['the prefix reached through dot segments', '/public/../outpost.goauthentik.io/start'],
  [
    'the prefix reached through encoded dot segments',
    '/public/%2e%2e/outpost.goauthentik.io/start',
  ],
  ['the prefix with an encoded letter', '/%6Futpost.goauthentik.io/start'],
  ['a target over 2048 characters', `/${'a'.repeat(2048)}`],
  ['malformed percent-encoding', '/reports/%E0%A4%A'],
];

for (const [what, target] of HOSTILE) {
  test(`return URL: ${what} falls back to the application root`, () => {
    assert.equal(resolveReturnUrl(target, single), ROOT);
  });
}

const GOOD: Array<[what: string, target: string, expected: string]> = [
  ['the root', '/', ROOT],
  ['a path', '/dashboard', 'https://app.example.com/dashboard'],
  [
    'a path with query and fragment',
    '/a/b?x=1&y=2#part',
    'https://app.example.com/a/b?x=1&y=2#part',
  ],
  [
    'an absolute URL on the own origin',
    'https://app.example.com/reports?year=2024',
    'https://app.example.com/reports?year=2024',
  ],
  ['the own origin in upper case', 'https://APP.EXAMPLE.COM/x', 'https://app.example.com/x'],
  [
    'the own origin with its default port',
    'https://app.example.com:443/x',
    'https://app.example.com/x',
  ],
  [
    'slashes inside the query',
    '/search?q=//not-a-host',
    'https://app.example.com/search?q=//not-a-host',
  ],
  ['an encoded character', '/caf%C3%A9', 'https://app.example.com/caf%C3%A9'],
  [
    'a path that merely mentions the prefix',
    '/docs/outpost.goauthentik.io/start',
    'https://app.example.com/docs/outpost.goauthentik.io/start',
  ],
];

for (const [what, target, expected] of GOOD) {
  test(`return URL: ${what} is kept`, () => {
    assert.equal(resolveReturnUrl(target, single), expected);
  });
}

const domain = application({
  mode: 'forward_domain',
  external_host: 'https://auth.example.com',
  cookie_domain: 'example.com',
});

test('return URL, domain mode: hosts on the cookie domain are kept, others fall back', () => {
  const kept = [
    'https://app2.example.com/x?y=1',
    'https://example.com/',
    'https://a.b.example.com/',
  ];
  const refused = [
    'https://evil-example.com/',
    'https://example.com.evil.example/',
    'http://app2.example.com/',
    'https://app2.example.com/outpost.goauthentik.io/start',
    '//app2.example.com/',
  ];

  for (const target of kept) assert.equal(resolveReturnUrl(target, domain), target);
  for (const target of refused) {
    assert.equal(resolveReturnUrl(target, domain), 'https://auth.example.com/', target);
  }
});
