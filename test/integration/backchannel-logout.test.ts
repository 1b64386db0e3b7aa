import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import * as jose from 'jose';
import { ALICE } from '../../src/demo/users.ts';
import { PREFIX, startStack, type Stack } from '../support/stack.ts';
import { TEST_CLIENT_ID } from '../support/provider.ts';

const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };

async function providerKey(stack: Stack) {
  const { keys } = JSON.parse(readFileSync(stack.providerKeysFile, 'utf8')) as { keys: jose.JWK[] };
  const jwk = keys.find((key) => key.alg === 'RS256')!;
  return { key: await jose.importJWK(jwk, 'RS256'), kid: jwk.kid! };
}

async function logoutToken(
  stack: Stack,
  claims: Record<string, unknown>,
  options: { key?: jose.CryptoKey | Uint8Array; alg?: string; kid?: string } = {},
) {
  const signer = options.key ? { key: options.key, kid: options.kid } : await providerKey(stack);
  const iat = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({
    events: EVENT,
    jti: randomUUID(),
    sub: ALICE.sub,
    iat,
    exp: iat + 120,
    ...claims,
  })
    .setProtectedHeader({
      alg: options.alg ?? 'RS256',
      typ: 'logout+jwt',
      ...(signer.kid ? { kid: signer.kid } : {}),
    })
    .setIssuer(stack.provider.issuer)
    .setAudience(TEST_CLIENT_ID)
    .sign(signer.key);
}

function post(stack: Stack, token: string) {
  return fetch(`${stack.gatehouseUrl}${PREFIX}/backchannel_logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });
}

async function signedIn(stack: Stack) {
  const browser = stack.browser();
  const result = await browser.login(stack.appUrl('/'), 'alice');
  assert.equal(result.status, 200);
  return browser;
}

test('a logout at the provider ends the Gatehouse session through back-channel logout', async (t) => {
  const stack = await startStack({ backchannel: true });
  t.after(() => stack.close());
  const browser = await signedIn(stack);
  const before = stack.whoami.requests.length;

  const result = await stack.provider.endSessions(ALICE.sub);

  assert.deepEqual(result.failed, []);
  assert.equal(result.delivered.length, 1);
  const next = await browser.request(stack.appUrl('/'));
  assert.equal(next.status, 302);
  assert.ok(next.headers.location?.startsWith(stack.provider.issuer));
  assert.equal(stack.whoami.requests.length, before);
});

test('a logout token naming only sub ends every session of that user', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const first = await signedIn(stack);
  const second = await signedIn(stack);

  const response = await post(stack, await logoutToken(stack, {}));

  assert.equal(response.status, 200);
  assert.equal((await first.request(stack.appUrl('/'))).status, 302);
  assert.equal((await second.request(stack.appUrl('/'))).status, 302);
});

test('logout tokens that fail a check get 400 with a reason and end nothing', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = await signedIn(stack);
  const other = await jose.generateKeyPair('RS256');
  const secret = new TextEncoder().encode(
    'a-shared-secret-that-anyone-with-the-client-secret-knows',
  );
  const stale = Math.floor(Date.now() / 1000) - 3600;

  const cases: Array<[string, () => Promise<string> | string]> = [
    ['not a JWT', () => 'garbage'],
    [
      'signed by another key',
      () => logoutToken(stack, {}, { key: other.privateKey, kid: 'other' }),
    ],
    ['signed with HMAC', () => logoutToken(stack, {}, { key: secret, alg: 'HS256' })],
    ['carrying a nonce', () => logoutToken(stack, { nonce: 'n' })],
    ['without the logout event', () => logoutToken(stack, { events: { other: {} } })],
    ['without sid or sub', () => logoutToken(stack, { sub: undefined })],
    ['without jti', () => logoutToken(stack, { jti: undefined })],
    ['issued an hour ago', () => logoutToken(stack, { iat: stale, exp: stale + 7200 })],
    [
      'for another audience',
      async () => {
        const { key, kid } = await providerKey(stack);
        return new jose.SignJWT({ events: EVENT, jti: randomUUID(), sub: ALICE.sub })
          .setProtectedHeader({ alg: 'RS256', kid })
          .setIssuer(stack.provider.issuer)
          .setAudience('someone-else')
          .setIssuedAt()
          .sign(key);
      },
    ],
  ];

  for (const [name, make] of cases) {
    const response = await post(stack, await make());
    const body = (await response.json()) as { reason?: string };
    assert.equal(response.status, 400, name);
    assert.ok(body.reason, `${name} has a reason`);
  }
  assert.equal((await browser.request(stack.appUrl('/'))).status, 200);
});

test('a replayed logout token is refused', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const token = await logoutToken(stack, {});

  assert.equal((await post(stack, token)).status, 200);
  const replay = await post(stack, token);

  assert.equal(replay.status, 400);
  assert.match(((await replay.json()) as { reason: string }).reason, /already used/);
});
