import assert from 'node:assert/strict';
import { test } from 'node:test';

import { configSchema } from '../../src/config/schema.ts';
import { compileAccess, deniedBy } from '../../src/gate/access-policy.ts';

function policy(access: Record<string, unknown>) {
  const config = configSchema.parse({
    secret: 'a-secret-of-at-least-thirty-two-bytes!',
    applications: [
      {
        name: 'app',
        external_host: 'https://app.example.com',
        oidc: { issuer: 'https://idp.example.com/', client_id: 'app', client_secret: 's' },
        access,
      },
    ],
  });
  return compileAccess(config.applications[0]!.access);
}

const ALICE = { sub: 'a1', email: 'alice@example.com', groups: ['admins', 'staff'] };
const BOB = { sub: 'b1', email: 'bob@example.com', groups: ['staff'], department: 'sales' };
const EVE = { sub: 'e1', email: 'eve@evil.example.com', groups: [] };

type Row = [
  what: string,
  claims: Record<string, unknown>,
  path: string,
  method: string,
  ok: boolean,
];

function check(access: Record<string, unknown>, rows: Row[]) {
  const compiled = policy(access);
  for (const [what, claims, path, method, ok] of rows) {
    const denied = deniedBy(compiled, claims, { path, method });
    assert.equal(denied === undefined, ok, `${what}: ${denied ?? 'admitted'}`);
  }
}

test('access: with every list empty, everyone who signs in is admitted', () => {
  check({}, [['eve', EVE, '/', 'GET', true]]);
});

test('access: an email domain matches the whole domain only, case-insensitively', () => {
  check({ email_domains: ['Example.COM'] }, [
    ['alice', ALICE, '/', 'GET', true],
    ['a subdomain address', EVE, '/', 'GET', false],
    ['upper-case address', { email: 'ALICE@EXAMPLE.COM' }, '/', 'GET', true],
    ['two at signs', { email: 'eve@evil.example@example.com' }, '/', 'GET', false],
    ['a look-alike suffix', { email: 'eve@notexample.com' }, '/', 'GET', false],
    ['no local part', { email: '@example.com' }, '/', 'GET', false],
    ['unverified', { email: 'eve@example.com', email_verified: false }, '/', 'GET', false],
    ['not a string', { email: ['a@example.com'] }, '/', 'GET', false],
  ]);
});

test('access: emails and groups admit exactly their members', () => {
  check({ emails: ['Bob@Example.com'], groups: ['admins'] }, [
    ['alice by group', ALICE, '/', 'GET', true],
    ['bob by email', BOB, '/', 'GET', true],
    ['eve', EVE, '/', 'GET', false],
    ['a groups claim that is a string', { groups: 'admins' }, '/', 'GET', false],
  ]);
});

test('access: claim matchers test equals, in and an anchored regex, and any element of a list', () => {
  check(
    {
      claims: [
        { claim: 'department', equals: 'engineering' },
        { claim: 'level', in: [3, 4] },
        { claim: 'roles', matches: '^ops-' },
      ],
    },
    [
      ['equals', { department: 'engineering' }, '/', 'GET', true],
      ['equals, other value', BOB, '/', 'GET', false],
      ['in', { level: 4 }, '/', 'GET', true],
      ['in, a string that looks like a member', { level: '4' }, '/', 'GET', false],
      ['matches an element', { roles: ['dev', 'ops-db'] }, '/', 'GET', true],
      ['matches needs the anchor', { roles: 'dev-ops-db' }, '/', 'GET', false],
      ['no such claim', {}, '/', 'GET', false],
    ],
  );
});

test('access rules: the longest matching prefix decides, with methods, falling back to the app lists', () => {
  check(
    {
      groups: ['staff'],
      rules: [
        { path_prefix: '/admin', groups: ['admins'] },
        { path_prefix: '/admin/reports', groups: ['staff'] },
        { path_prefix: '/api', methods: ['post', 'DELETE'], groups: ['admins'] },
        { path_prefix: '/open/' },
      ],
    },
    [
      ['staff on the app', BOB, '/home', 'GET', true],
      ['eve on the app', EVE, '/home', 'GET', false],
      ['staff under /admin', BOB, '/admin/users', 'GET', false],
      ['staff on /admin itself', BOB, '/admin', 'GET', false],
      ['admins under /admin', ALICE, '/admin/users', 'GET', true],
      ['a longer prefix wins', BOB, '/admin/reports/q1', 'GET', true],
      ['a prefix is a whole segment', BOB, '/administrator', 'GET', true],
      ['a method the rule names', BOB, '/api/items', 'POST', false],
      ['a method the rule does not name', BOB, '/api/items', 'GET', true],
      ['admins with the named method', ALICE, '/api/items', 'DELETE', true],
      ['an open rule admits anyone signed in', EVE, '/open/x', 'GET', true],
      ['the open rule also covers its bare path', EVE, '/open', 'GET', true],
    ],
  );
});

test('access rules: the denial names the rule that denied', () => {
  const compiled = policy({ rules: [{ path_prefix: '/admin', methods: ['GET'], groups: ['x'] }] });
  assert.match(
    deniedBy(compiled, BOB, { path: '/admin', method: 'GET' }) ?? '',
    /access\.rules\[0\] \(\/admin, GET\)/,
  );
});

test('access configuration: a claim matcher needs exactly one test and a rule a canonical prefix', () => {
  assert.throws(() => policy({ claims: [{ claim: 'x' }] }));
  assert.throws(() => policy({ claims: [{ claim: 'x', equals: 'a', in: ['a'] }] }));
  assert.throws(() => policy({ claims: [{ claim: 'x', matches: '(' }] }));
  for (const prefix of ['admin', '/a/../b', '//a', '/a;b', '/a?b'])
    assert.throws(() => policy({ rules: [{ path_prefix: prefix }] }), prefix);
});
