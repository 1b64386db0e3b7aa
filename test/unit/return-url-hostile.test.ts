/**
 * Hostile return targets against the one validator, in both application modes, and a property:
 * whatever the input, an accepted target stays on the configured hosts and is never one of
 * Gatehouse's own endpoints. The endpoints that take a target are covered end to end in
 * test/integration/return-targets.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { configSchema } from '../../src/config/schema.ts';
import { canonicalPath } from '../../src/gate/canonical-path.ts';
import { resolveReturnUrl } from '../../src/oidc/return-url.ts';
import { buildApplication, type Application } from '../../src/server/application.ts';
import { HOSTILE_TARGETS } from '../support/hostile-targets.ts';

function application(app: Record<string, unknown>): Application {
  const config = configSchema.parse({
    secret: 'a-secret-of-at-least-thirty-two-bytes!',
    applications: [
      {
        name: 'app',
        oidc: { issuer: 'https://idp.example.com/', client_id: 'app', client_secret: 's' },
        ...app,
      },
    ],
  });
  return buildApplication(config.applications[0]!, config);
}

const single = application({ external_host: 'https://app.example.com' });
const domain = application({
  mode: 'forward_domain',
  external_host: 'https://auth.example.com',
  cookie_domain: 'example.com',
});

for (const target of HOSTILE_TARGETS) {
  test(`return URL ${JSON.stringify(target)} falls back to the root in both modes`, () => {
    assert.equal(resolveReturnUrl(target, single), 'https://app.example.com/');
    assert.equal(resolveReturnUrl(target, domain), 'https://auth.example.com/');
  });
}

test('return URL, single host: IDN and mixed-script look-alikes of the host fall back', () => {
  for (const target of ['https://xn--pp-7kc.example.com/', 'https://аpp.example.com/'])
    assert.equal(resolveReturnUrl(target, single), 'https://app.example.com/', target);
});

test('return URL, domain mode: another port, scheme or a look-alike of the cookie domain falls back', () => {
  for (const target of [
    'https://app2.example.com:8443/',
    'http://app2.example.com/',
    'https://app2.example.com.evil.example/',
    'https://app2-example.com/',
    'https://APP2.example.com/outpost.goauthentik.io/sign_out',
  ]) {
    assert.equal(resolveReturnUrl(target, domain), 'https://auth.example.com/', target);
  }
});

test('return URL: upper-case hosts, IDN hosts on the domain and real queries are kept normalised', () => {
  assert.equal(
    resolveReturnUrl('https://APP2.Example.COM/x', domain),
    'https://app2.example.com/x',
  );
  assert.equal(
    resolveReturnUrl('https://bücher.example.com/', domain),
    'https://xn--bcher-kva.example.com/',
  );
  assert.equal(
    resolveReturnUrl('/search?q=a%20b&next=//x', single),
    'https://app.example.com/search?q=a%20b&next=//x',
  );
  assert.equal(resolveReturnUrl('/100%25', single), 'https://app.example.com/100%25');
});

const PIECES = [
  '/',
  '//',
  '\\',
  '%2f',
  '%2F',
  '%5c',
  '%25',
  '%09',
  '%00',
  '@',
  ':',
  '.',
  '..',
  ';',
  '?',
  '#',
  '\t',
  ' ',
  'https:',
  'http://',
  'evil.example',
  'app.example.com',
  'auth.example.com',
  'example.com',
  ':443',
  ':8443',
  'outpost.goauthentik.io',
  'start',
  'x',
];

const hostileText = fc.oneof(
  fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

function assertStaysHome(result: string, app: Application) {
  const url = new URL(result);
  assert.equal(url.username + url.password, '');
  assert.equal(url.protocol, app.origin.protocol);
  assert.equal(url.port, app.origin.port);
  const onDomain =
    app.domain !== undefined &&
    (url.hostname === app.domain || url.hostname.endsWith(`.${app.domain}`));
  assert.ok(url.origin === app.origin.origin || onDomain, result);
  const path = canonicalPath(url.pathname);
  assert.ok(path.ok, result);
  const lower = path.path.toLowerCase();
  const prefix = '/outpost.goauthentik.io';
  assert.ok(lower !== prefix && !lower.startsWith(`${prefix}/`), result);
  assert.equal(resolveReturnUrl(result, app), result, 'an accepted target is accepted again');
}

test('property: no accepted return target leaves the configured hosts or names an own endpoint', () => {
  fc.assert(
    fc.property(hostileText, (target) => {
      assertStaysHome(resolveReturnUrl(target, single), single);
      assertStaysHome(resolveReturnUrl(target, domain), domain);
    }),
    { numRuns: 3000 },
  );
});
