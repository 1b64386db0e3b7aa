import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applicationHeaders,
  emptyApplicationHeaders,
  type HeadersFor,
} from '../../src/identity/application-headers.ts';

const base: HeadersFor = {
  header_sets: ['authentik'],
  custom_headers: {},
  basic_auth_enabled: false,
  basic_auth_user_attribute: '',
  basic_auth_password_attribute: '',
  max_groups_header_bytes: 2048,
};
const context = { app: 'wiki', provider: 'wiki' };
const alice = {
  sub: 'u-1',
  preferred_username: 'alice',
  email: 'alice@example.com',
  name: 'Alice Example',
  groups: ['admins', 'staff'],
};

test('every header set carries its names with the identity', () => {
  const { headers } = applicationHeaders(
    { ...base, header_sets: ['authentik', 'oauth2-proxy', 'authelia'] },
    { claims: alice, accessToken: 'at' },
    context,
  );

  assert.equal(headers['X-authentik-username'], 'alice');
  assert.equal(headers['X-authentik-groups'], 'admins|staff');
  assert.equal(headers['X-authentik-jwt'], 'at');
  assert.equal(headers['X-Forwarded-User'], 'u-1');
  assert.equal(headers['X-Forwarded-Groups'], 'admins,staff');
  assert.equal(headers['X-Auth-Request-Email'], 'alice@example.com');
  assert.equal(headers['X-Forwarded-Preferred-Username'], 'alice');
  assert.equal(headers['Remote-User'], 'alice');
  assert.equal(headers['Remote-Groups'], 'admins,staff');
  assert.equal(headers['Remote-Name'], 'Alice Example');
});

test('custom headers render claim templates, and an exemption sends them empty', () => {
  const app = {
    ...base,
    custom_headers: { 'X-Team': 'team-{department}', 'X-Who': '{preferred_username} <{email}>' },
  };

  const { headers } = applicationHeaders(app, { claims: { ...alice, department: 'ops' } }, context);
  const empty = emptyApplicationHeaders(app);

  assert.equal(headers['X-Team'], 'team-ops');
  assert.equal(headers['X-Who'], 'alice <alice@example.com>');
  assert.equal(empty['X-Team'], '');
  assert.equal(empty['X-authentik-username'], '');
});

test('basic auth is built from the two configured claims, including authentik user attributes', () => {
  const app = {
    ...base,
    basic_auth_enabled: true,
    basic_auth_user_attribute: 'legacy_user',
    basic_auth_password_attribute: 'legacy_password',
  };
  const claims = {
    ...alice,
    ak_proxy: { user_attributes: { legacy_user: 'al', legacy_password: 'pw:1' } },
  };

  const { headers } = applicationHeaders(app, { claims }, context);
  const without = applicationHeaders(app, { claims: alice }, context).headers;

  assert.equal(headers.Authorization, `Basic ${Buffer.from('al:pw:1').toString('base64')}`);
  assert.equal(without.Authorization, undefined, 'no password claim, no credentials');
});

test('additionalHeaders from ak_proxy are added but never replace identity headers', () => {
  const claims = {
    ...alice,
    ak_proxy: {
      user_attributes: {
        additionalHeaders: { 'X-Tenant': 'blue', 'x-authentik-username': 'root' },
      },
    },
  };

  const { headers } = applicationHeaders(base, { claims }, context);

  assert.equal(headers['X-Tenant'], 'blue');
  assert.equal(headers['X-authentik-username'], 'alice');
  assert.equal(
    Object.keys(headers).filter((name) => name.toLowerCase() === 'x-authentik-username').length,
    1,
  );
});

test('a group list too long for a header is cut at the limit and the cut is reported', () => {
  const groups = Array.from({ length: 500 }, (_, index) => `group-number-${index}`);

  const { headers, droppedGroups } = applicationHeaders(
    { ...base, max_groups_header_bytes: 1024 },
    { claims: { ...alice, groups } },
    context,
  );

  assert.ok(Buffer.byteLength(headers['X-authentik-groups']!) <= 1024);
  assert.ok(droppedGroups > 0);
  assert.equal(headers['X-authentik-groups']!.split('|').length + droppedGroups, 500);
});
