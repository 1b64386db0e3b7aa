import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';

import { ALICE, BOB } from '../../src/demo/users.ts';
import { Browser } from '../support/browser.ts';
import {
  startTestProvider,
  testClient,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
} from '../support/provider.ts';
import type { RunningProvider } from '../support/provider.ts';

/** A relying party stand-in: answers 200 to the browser and records back-channel posts. */
async function startRelyingParty() {
  const logoutTokens: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    if (req.method === 'POST' && req.url === '/backchannel_logout') {
      logoutTokens.push(
        new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token') ?? '',
      );
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('relying party');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    logoutTokens,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

type RelyingParty = Awaited<ReturnType<typeof startRelyingParty>>;

interface SignIn {
  tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  browser: Browser;
}

describe('embedded OpenID Provider', () => {
  let rp: RelyingParty;
  let op: RunningProvider;
  let basic: client.Configuration;
  let post: client.Configuration;
  const events: string[] = [];

  before(async () => {
    rp = await startRelyingParty();
    op = await startTestProvider(
      [
        testClient(`${rp.url}/callback`, {
          post_logout_redirect_uris: [`${rp.url}/signed-out`],
          backchannel_logout_uri: `${rp.url}/backchannel_logout`,
          backchannel_logout_session_required: true,
        }),
        {
          client_id: 'post-client',
          client_secret: 'post-client-secret',
          redirect_uris: [`${rp.url}/callback`],
          token_endpoint_auth_method: 'client_secret_post',
          id_token_signed_response_alg: 'ES256',
        },
      ],
      { onEvent: (name) => events.push(name) },
    );
    const insecure = { execute: [client.allowInsecureRequests] };
    basic = await client.discovery(
      new URL(op.issuer),
      TEST_CLIENT_ID,
      undefined,
      client.ClientSecretBasic(TEST_CLIENT_SECRET),
      insecure,
    );
    post = await client.discovery(
      new URL(op.issuer),
      'post-client',
      { id_token_signed_response_alg: 'ES256' },
      client.ClientSecretPost('post-client-secret'),
      insecure,
    );
  });

  after(async () => {
    await op.close();
    await rp.close();
  });

  async function authorizationUrl(config: client.Configuration, scope = 'openid profile email') {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${rp.url}/callback`,
      scope,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { url, verifier, state };
  }

  async function signIn(
    username: string,
    config: client.Configuration = basic,
    browser = new Browser(),
  ): Promise<SignIn> {
    const { url, verifier, state } = await authorizationUrl(config);
    const landed = await browser.login(url, username);
    assert.equal(landed.status, 200, `sign-in ended at ${landed.url}`);
    assert.ok(landed.url.startsWith(`${rp.url}/callback?`), landed.url);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    return { tokens, browser };
  }

  test('discovery reports the issuer exactly and what relying parties rely on', async () => {
    const response = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const metadata = (await response.json()) as Record<string, unknown>;

    assert.equal(metadata['issuer'], op.issuer);
    assert.doesNotMatch(op.issuer, /\/$/);
    assert.deepEqual(metadata['code_challenge_methods_supported'], ['S256']);
    assert.deepEqual(metadata['response_types_supported'], ['code']);
    assert.deepEqual(metadata['token_endpoint_auth_methods_supported'], [
      'client_secret_basic',
      'client_secret_post',
    ]);
    for (const scope of ['openid', 'profile', 'email', 'offline_access']) {
      assert.ok((metadata['scopes_supported'] as string[]).includes(scope), scope);
    }
    for (const claim of ['groups', 'preferred_username', 'email', 'name', 'sid']) {
      assert.ok((metadata['claims_supported'] as string[]).includes(claim), claim);
    }
    assert.equal(metadata['backchannel_logout_supported'], true);
    assert.equal(metadata['backchannel_logout_session_supported'], true);
    assert.equal(metadata['end_session_endpoint'], `${op.issuer}/session/end`);
    assert.ok(metadata['userinfo_endpoint']);
    assert.ok(metadata['revocation_endpoint']);
    assert.ok(metadata['introspection_endpoint']);
  });

  test('the login page lists the demo users with their passwords', async () => {
    const { url } = await authorizationUrl(basic);
    const page = await new Browser().navigate(url);

    assert.equal(page.status, 200);
    assert.match(page.url, new RegExp(`^${op.issuer}/interaction/`));
    assert.match(page.body, /<form[^>]+method="post"/);
    for (const user of [ALICE, BOB]) {
      assert.ok(page.body.includes(user.username));
      assert.ok(page.body.includes(user.password));
    }
  });

  test('a wrong password is refused with the form again and no code', async () => {
    const { url } = await authorizationUrl(basic);
    const page = await new Browser().login(url, 'alice', 'not-the-password');

    assert.equal(page.status, 401);
    assert.match(page.body, /Wrong username or password/);
    assert.match(page.body, /name="password"/);
    assert.ok(page.hops.every((hop) => !hop.url.startsWith(`${rp.url}/callback`)));
  });

  test('an unknown user is refused like a wrong password', async () => {
    const { url } = await authorizationUrl(basic);
    const page = await new Browser().login(url, 'mallory', 'alice-password');
    assert.equal(page.status, 401);
  });

  test('an authorization request without PKCE is rejected', async () => {
    const url = client.buildAuthorizationUrl(basic, {
      redirect_uri: `${rp.url}/callback`,
      scope: 'openid',
      state: client.randomState(),
    });
    const page = await new Browser().navigate(url);
    const callback = new URL(page.url);

    assert.equal(callback.searchParams.get('error'), 'invalid_request');
    assert.match(callback.searchParams.get('error_description') ?? '', /PKCE/);
  });

  test('alice signs in with her password and gets an ID token with her claims', async () => {
    const { tokens } = await signIn('alice');
    const claims = tokens.claims();

    assert.ok(claims);
    assert.equal(claims.iss, op.issuer);
    assert.equal(claims.aud, TEST_CLIENT_ID);
    assert.equal(claims.sub, ALICE.sub);
    assert.equal(claims['preferred_username'], 'alice');
    assert.equal(claims['name'], 'Alice Example');
    assert.equal(claims['email'], 'alice@example.com');
    assert.equal(claims['email_verified'], true);
    assert.deepEqual(claims['groups'], ['admins', 'staff']);
    assert.equal(typeof claims['sid'], 'string');
    assert.equal(decodeProtectedHeader(tokens.id_token ?? '').alg, 'RS256');

    const jwks = createRemoteJWKSet(new URL(`${op.issuer}/jwks`));
    await jwtVerify(tokens.id_token ?? '', jwks, { issuer: op.issuer, audience: TEST_CLIENT_ID });

    const userinfo = await client.fetchUserInfo(basic, tokens.access_token, ALICE.sub);
    assert.deepEqual(userinfo['groups'], ['admins', 'staff']);
  });

  test('a refresh token is issued without offline_access, and refreshing rotates it', async () => {
    const { tokens } = await signIn('bob');
    assert.ok(tokens.refresh_token, 'no refresh token issued');
    const before = op.counters.refreshGrants;

    const refreshed = await client.refreshTokenGrant(basic, tokens.refresh_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.equal(refreshed.claims()?.sub, BOB.sub);
    assert.equal(op.counters.refreshGrants, before + 1);

    await assert.rejects(client.refreshTokenGrant(basic, tokens.refresh_token), (error: Error) => {
      assert.match(String((error as { error?: string }).error ?? error.message), /invalid_grant/);
      return true;
    });
  });

  test('the second sign-in of a browser skips the form', async () => {
    const { browser } = await signIn('alice');
    const { url } = await authorizationUrl(basic);
    const again = await browser.navigate(url);

    assert.ok(again.url.startsWith(`${rp.url}/callback?`), again.url);
    assert.ok(new URL(again.url).searchParams.get('code'));
  });

  test('client_secret_post and ES256 ID tokens work for a client registered so', async () => {
    const { tokens } = await signIn('alice', post);
    assert.equal(decodeProtectedHeader(tokens.id_token ?? '').alg, 'ES256');
    assert.equal(tokens.claims()?.sub, ALICE.sub);
  });

  test('group changes at the provider show in the refreshed ID token', async (t) => {
    const { tokens } = await signIn('bob');
    op.setUserGroups(BOB.sub, ['staff', 'auditors']);
    t.after(() => op.setUserGroups(BOB.sub, BOB.groups));

    const refreshed = await client.refreshTokenGrant(basic, tokens.refresh_token ?? '');
    assert.deepEqual(refreshed.claims()?.['groups'], ['staff', 'auditors']);
  });

  test('counters record token and userinfo requests', async () => {
    const tokenRequests = op.counters.tokenRequests;
    const userinfoRequests = op.counters.userinfoRequests;
    const { tokens } = await signIn('alice');
    await client.fetchUserInfo(basic, tokens.access_token, ALICE.sub);

    assert.equal(op.counters.tokenRequests, tokenRequests + 1);
    assert.equal(op.counters.userinfoRequests, userinfoRequests + 1);
  });

  test('RP-initiated logout confirms without a click and delivers back-channel logout', async () => {
    const { tokens, browser } = await signIn('alice');
    const sid = tokens.claims()?.['sid'];
    const delivered = rp.logoutTokens.length;

    const endSession = client.buildEndSessionUrl(basic, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: `${rp.url}/signed-out`,
      state: 'bye',
    });
    const page = await browser.navigate(endSession, { submitForms: true });

    assert.equal(page.url, `${rp.url}/signed-out?state=bye`);
    assert.equal(rp.logoutTokens.length, delivered + 1, 'no back-channel logout arrived');
    const jwks = createRemoteJWKSet(new URL(`${op.issuer}/jwks`));
    const { payload } = await jwtVerify(rp.logoutTokens.at(-1) ?? '', jwks, {
      issuer: op.issuer,
      audience: TEST_CLIENT_ID,
    });
    assert.equal(payload.sub, ALICE.sub);
    assert.equal(payload['sid'], sid);
    assert.ok(events.includes('backchannel.success'));

    const { url } = await authorizationUrl(basic);
    const again = await browser.navigate(url);
    assert.match(again.url, /\/interaction\//, 'the provider session survived logout');
  });

  test('endSessions delivers back-channel logout without a browser', async () => {
    const { tokens } = await signIn('bob');
    const delivered = rp.logoutTokens.length;

    const result = await op.endSessions(BOB.sub);

    assert.ok(result.delivered.length >= 1);
    assert.ok(result.delivered.every((clientId) => clientId === TEST_CLIENT_ID));
    assert.deepEqual(result.failed, []);
    assert.equal(rp.logoutTokens.length, delivered + result.delivered.length);
    await assert.rejects(client.refreshTokenGrant(basic, tokens.refresh_token ?? ''));
  });

  test('a disabled user can neither refresh nor sign in', async () => {
    const { tokens } = await signIn('bob');
    await op.disableUser(BOB.sub);

    await assert.rejects(client.refreshTokenGrant(basic, tokens.refresh_token ?? ''));
    const { url } = await authorizationUrl(basic);
    const page = await new Browser().login(url, 'bob');
    assert.equal(page.status, 401);
  });
});
