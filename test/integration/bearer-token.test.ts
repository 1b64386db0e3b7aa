/**
 * Machine clients with `intercept_header_auth`: a Bearer JWT signed by the provider's key, for
 * this application, unexpired, is let through with identity headers from its claims and creates
 * no session; any other Bearer gets a 401 JSON answer, never a login redirect.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';

import { TEST_CLIENT_ID } from '../support/provider.ts';
import { rawRequest, type RawAnswer } from '../support/raw-request.ts';
import { PREFIX, startStack, type Stack } from '../support/stack.ts';

describe('Bearer tokens', () => {
  let stack: Stack;
  let jwk: jose.JWK;
  let key: jose.CryptoKey;
  before(async () => {
    stack = await startStack({
      mode: 'proxy',
      app: {
        intercept_header_auth: true,
        access: { rules: [{ path_prefix: '/admin', groups: ['admins'] }] },
      },
    });
    const { keys } = JSON.parse(readFileSync(stack.providerKeysFile, 'utf8')) as {
      keys: jose.JWK[];
    };
    jwk = keys.find((candidate) => candidate.alg === 'RS256')!;
    key = (await jose.importJWK(jwk, 'RS256')) as jose.CryptoKey;
  });
  after(() => stack.close());

  async function token(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({
      iss: stack.provider.issuer,
      aud: TEST_CLIENT_ID,
      sub: 'svc-reports',
      preferred_username: 'reports-bot',
      groups: ['robots'],
      iat: now,
      exp: now + 300,
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid!, typ: 'at+jwt', ...header })
      .sign(key);
  }

  function forwardAuth(
    bearer: string,
    uri = '/reports',
    accept = 'application/json',
  ): Promise<RawAnswer> {
    return rawRequest(`${stack.gatehouseUrl}${PREFIX}/auth/traefik`, {
      headers: {
        accept,
        authorization: `Bearer ${bearer}`,
        'x-forwarded-proto': 'http',
        'x-forwarded-host': new URL(stack.origin).host,
        'x-forwarded-uri': uri,
      },
    });
  }

  test('a valid token is let through with identity headers from its claims and no session', async () => {
    const answer = await forwardAuth(await token());
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers['x-authentik-username'], 'reports-bot');
    assert.equal(answer.headers['x-authentik-uid'], 'svc-reports');
    assert.equal(answer.headers['x-authentik-groups'], 'robots');
    assert.equal(answer.headers['set-cookie'], undefined, 'no session is minted');
  });

  test('proxy mode: the application gets the identity and, by default, no Authorization header', async () => {
    const answer = await rawRequest(stack.appUrl('/reports'), {
      headers: { accept: 'application/json', authorization: `Bearer ${await token()}` },
    });
    assert.equal(answer.status, 200, answer.body);
    const seen = stack.whoami.requests.at(-1)!.headers;
    assert.equal(seen['x-authentik-username'], 'reports-bot');
    assert.equal(seen.authorization, undefined);
  });

  test('an expiry within clock_leeway is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await forwardAuth(await token({ exp: now - 20 }))).status, 200);
  });

  test('the access rules apply to tokens too: 403, not a login', async () => {
    const answer = await forwardAuth(await token(), '/admin/x');
    assert.equal(answer.status, 403);
    assert.equal(answer.headers.location, undefined);
  });

  const REJECTED: Array<[what: string, make: () => Promise<string>]> = [
    ['a wrong issuer', () => token({ iss: 'https://evil.example/' })],
    ['a wrong audience', () => token({ aud: 'another-client' })],
    ['an expired token', () => token({ exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['no exp', () => token({ exp: undefined })],
    ['no sub', () => token({ sub: undefined })],
    ['an ID token (it carries a nonce)', () => token({ nonce: 'n' })],
    ['a logout token', () => token({ events: { x: {} } }, { typ: 'logout+jwt' })],
    ['a token of another type', () => token({}, { typ: 'JOSE' })],
    [
      'alg none',
      async () =>
        new jose.UnsecuredJWT({
          iss: stack.provider.issuer,
          aud: TEST_CLIENT_ID,
          sub: 'x',
          exp: Math.floor(Date.now() / 1000) + 300,
        }).encode(),
    ],
    [
      'HMAC with the public key as the secret',
      async () => {
        const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({
          type: 'spki',
          format: 'pem',
        });
        const now = Math.floor(Date.now() / 1000);
        return new jose.SignJWT({
          iss: stack.provider.issuer,
          aud: TEST_CLIENT_ID,
          sub: 'x',
          exp: now + 300,
        })
          .setProtectedHeader({ alg: 'HS256', kid: jwk.kid! })
          .sign(new TextEncoder().encode(String(pem)));
      },
    ],
    [
      'a signature by another key',
      async () => {
        const { privateKey } = await jose.generateKeyPair('RS256');
        const now = Math.floor(Date.now() / 1000);
        return new jose.SignJWT({
          iss: stack.provider.issuer,
          aud: TEST_CLIENT_ID,
          sub: 'x',
          exp: now + 300,
        })
          .setProtectedHeader({ alg: 'RS256', kid: jwk.kid! })
          .sign(privateKey);
      },
    ],
    [
      'a tampered payload',
      async () => {
        const [head, , signature] = (await token()).split('.');
        const payload = Buffer.from(
          JSON.stringify({
            iss: stack.provider.issuer,
            aud: TEST_CLIENT_ID,
            sub: 'root',
            exp: 9e9,
          }),
        ).toString('base64url');
        return `${head}.${payload}.${signature}`;
      },
    ],
    ['garbage', async () => 'not-a-jwt'],
  ];

  for (const [what, make] of REJECTED) {
    test(`a Bearer token with ${what} gets 401 JSON, never a login redirect`, async () => {
      for (const accept of ['application/json', 'text/html']) {
        const answer = await forwardAuth(await make(), '/reports', accept);
        assert.equal(answer.status, 401, `${accept}: ${answer.body}`);
        assert.equal(answer.headers.location, undefined);
        assert.equal(JSON.parse(answer.body).error, 'invalid_token');
        assert.equal(answer.headers['x-authentik-username'], undefined);
      }
    });
  }

  test('a rejected token in proxy mode reaches no application', async () => {
    const before = stack.whoami.requests.length;
    const answer = await rawRequest(stack.appUrl('/reports'), {
      headers: { accept: 'text/html', authorization: `Bearer ${await token({ aud: 'x' })}` },
    });
    assert.equal(answer.status, 401);
    assert.equal(stack.whoami.requests.length, before);
  });
});
