/**
 * Attacks on the sign-in flow and the session lifecycle: login CSRF, flow and state mix-ups,
 * PKCE and nonce, session fixation, code replay, redirect loops through the whole flow,
 * back-channel logout, renewal, secret rotation, flooding and sign-out.
 *
 * The first group holds attacks that once got through (a flow cookie planted from a sibling
 * host on https, parallel starts flooding flow cookies, renewals losing tokens or keeping a
 * session userinfo no longer vouches for). Every test shows an attack turned away.
 *
 * "Attacker" and "victim" are two browsers (cookie jars). The provider is the in-process one;
 * where a test needs a provider (or a network path) that answers something else than it
 * should, it rewrites the provider's responses (`rewriteProvider`) and re-signs ID tokens with
 * the provider's own key.
 */
import assert from 'node:assert/strict';
import { MAX_OPEN_FLOWS } from '../../src/oidc/login-flow.ts';
import { after, describe, test, type TestContext } from 'node:test';

import * as jose from 'jose';

import { startGatehouse } from '../../src/cli.ts';
import { configSchema } from '../../src/config/schema.ts';
import { ALICE, BOB } from '../../src/demo/users.ts';
import { createLogger } from '../../src/log.ts';
import { seal, unseal } from '../../src/oidc/seal.ts';
import { deriveKeys } from '../../src/session/keys.ts';
import type { SessionRecord, SessionStore } from '../../src/session/record.ts';
import { Browser, type BrowserResponse } from '../support/browser.ts';
import { logoutTokenFor, postLogoutToken } from '../support/logout-tokens.ts';
import { TEST_CLIENT_ID } from '../support/provider.ts';
import {
  flowCookies,
  OTHER_CLIENT_ID,
  providerSigningKey,
  resignIdToken,
  rewriteProvider,
  startTwoApps,
} from '../support/sign-in-attacks.ts';
import { untilCallback } from '../support/sign-in-steps.ts';
import { PREFIX, SECRET, startStack, type Stack, type StackOptions } from '../support/stack.ts';

const FLOW_KEY = deriveKeys(SECRET).flowEncryption;

type SealedState = { f: string; app: string; r: string; a: number; t: number };

async function stackFor(t: TestContext, options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(options);
  t.after(() => stack.close());
  return stack;
}

function storeOf(stack: Stack): SessionStore {
  return stack.gatehouse.gatehouse.sessions.store;
}

async function signedIn(stack: Stack, who: 'alice' | 'bob', path = '/'): Promise<Browser> {
  const browser = stack.browser();
  const landed = await browser.login(stack.appUrl(path), who);
  assert.equal(landed.status, 200, `${who} signs in: ${landed.body}`);
  return browser;
}

function setCookies(answer: BrowserResponse): string[] {
  return answer.headers['set-cookie'] ?? [];
}

/** True when the answer sets a session cookie with a value (not a clearing one). */
function mintsSession(answer: BrowserResponse): boolean {
  return setCookies(answer).some((line) => /gatehouse_session_[^=]*=[^;]+/.test(line));
}

/** What the application saw on its last request, as Gatehouse's identity headers. */
function lastUser(stack: { whoami: Stack['whoami'] }): string | undefined {
  const value = stack.whoami.requests.at(-1)?.headers['x-authentik-username'];
  return Array.isArray(value) ? value[0] : value;
}

async function onlySession(store: SessionStore, sub: string): Promise<SessionRecord> {
  const records = await store.list({ sub });
  assert.equal(records.length, 1, `one session for ${sub}`);
  return records[0]!;
}

async function edit(store: SessionStore, sub: string, change: (r: SessionRecord) => void) {
  const record = await onlySession(store, sub);
  change(record);
  await store.put(record);
}

function dueForRefresh(record: SessionRecord): void {
  record.accessTokenIssuedAt = Date.now() - 3_600_000;
  record.accessTokenExpiresAt = Date.now() + 1000;
}

function flowIdOf(callback: URL): string {
  const state = unseal<SealedState>(FLOW_KEY, 'state', callback.searchParams.get('state')!);
  assert.ok(state, 'the state unseals with the test secret');
  return state.f;
}

/** Flips one bit of a base64url value at byte `index` (negative: from the end). */
function flipBit(value: string, index: number): string {
  const raw = Buffer.from(value, 'base64url');
  raw[index < 0 ? raw.length + index : index]! ^= 0x01;
  return raw.toString('base64url');
}

// ---------------------------------------------------------------------------------------------

describe('attacks that once got through', () => {
  test(
    'on https the flow cookie has the __Host- prefix the session cookie has, so no sibling can plant it',
    {},
    async (t) => {
      const stack = await stackFor(t);
      const config = configSchema.parse({
        ...stack.config,
        listen: '127.0.0.1:0',
        applications: [
          { ...stack.config.applications[0]!, external_host: 'https://app.example.test' },
        ],
      });
      const https = await startGatehouse(config, {
        log: createLogger(process.env.GATEHOUSE_TEST_LOG ?? 'silent'),
      });
      t.after(() => https.close());

      const answer = await new Browser().request(`${https.url}${PREFIX}/start?rd=/`, {
        headers: { host: 'app.example.test' },
      });
      assert.equal(answer.status, 302);
      const flow = setCookies(answer).find((line) => line.includes('gatehouse_flow_'))!;
      assert.match(flow, /; Secure/);

      // A Secure Domain cookie from https://evil.example.test is taken and sent to the callback.
      const victim = new Browser();
      const [pair] = flow.split(';');
      victim.jar.store(
        `${pair}; Domain=example.test; Path=/; Secure`,
        'https://evil.example.test/',
      );
      const sent = victim.cookies(`https://app.example.test${PREFIX}/callback`);
      assert.equal(sent.length, 0, `a sibling planted ${sent[0]?.name}`);
    },
  );

  test(
    'seventy sign-ins started at once leave at most MAX_OPEN_FLOWS flow cookies, and the browser can still sign in',
    {},
    async (t) => {
      const stack = await stackFor(t);
      const browser = stack.browser();
      // Seventy navigations at once: restored tabs, or a same-site page framing protected URLs.
      await Promise.all(
        Array.from({ length: 70 }, (_, index) => browser.request(stack.appUrl(`/tab/${index}`))),
      );

      const next = await browser.login(stack.appUrl('/'), 'alice');

      assert.equal(next.status, 200, `locked out: ${next.status}`);
      assert.ok(
        flowCookies(browser, stack.origin).length <= MAX_OPEN_FLOWS,
        'flow cookies kept bounded',
      );
    },
  );

  test(
    'a userinfo hiccup right after a rotating refresh keeps the new refresh token and the session',
    {},
    async (t) => {
      const stack = await stackFor(t, { provider: { rotateRefreshToken: true } });
      const browser = await signedIn(stack, 'alice');
      await edit(storeOf(stack), ALICE.sub, dueForRefresh);
      let failUserinfo = true;
      rewriteProvider(stack.provider, (ctx) => {
        if (ctx.oidc?.route === 'userinfo' && failUserinfo) {
          failUserinfo = false;
          ctx.status = 503;
          ctx.body = 'busy';
        }
      });

      const hiccup = await browser.request(stack.appUrl('/during-hiccup'));
      assert.equal(hiccup.status, 200, 'the session is kept while the provider is flaky');
      // A second replica (no back-off memory of the first) renews the session next.
      const replica = await startGatehouse(
        { ...stack.config, listen: '127.0.0.1:0' },
        { log: createLogger(process.env.GATEHOUSE_TEST_LOG ?? 'silent'), store: storeOf(stack) },
      );
      t.after(() => replica.close());
      const next = await browser.request(`${replica.url}/after-hiccup`, {
        headers: { host: new URL(stack.origin).host, cookie: browser.cookieHeader(stack.origin) },
      });

      assert.equal(next.status, 200, 'signed out by a transient userinfo failure');
    },
  );

  test('revalidation that userinfo answers for another sub ends the session', {}, async (t) => {
    const stack = await stackFor(t);
    // No refresh token: revalidation asks userinfo with the access token.
    rewriteProvider(stack.provider, (ctx) => {
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.oidc?.route === 'token' && body) delete body.refresh_token;
    });
    const browser = await signedIn(stack, 'alice');
    assert.equal((await onlySession(storeOf(stack), ALICE.sub)).refreshToken, undefined);
    stack.provider.setUserGroups(ALICE.sub, []);
    rewriteProvider(stack.provider, (ctx) => {
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.oidc?.route === 'userinfo' && body) body.sub = BOB.sub;
    });
    await edit(storeOf(stack), ALICE.sub, (record) => {
      record.validatedAt = Date.now() - stack.config.session.revalidate_interval - 1;
    });

    const answer = await browser.request(stack.appUrl('/revalidated'));

    const groups = stack.whoami.requests.at(-1)?.headers['x-authentik-groups'];
    assert.equal(answer.status, 302, `still let through, with groups ${String(groups)}`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('login CSRF and flow mix-ups', () => {
  test("the attacker's code and state delivered to a victim's callback sign nobody in", async (t) => {
    const stack = await stackFor(t);
    const attacker = stack.browser();
    const callback = await untilCallback(attacker, stack.appUrl('/'), stack.origin, 'bob');

    const fresh = stack.browser();
    const anonymous = await fresh.request(callback);
    assert.equal(anonymous.status, 302);
    assert.ok(anonymous.headers.location!.startsWith(stack.provider.issuer), 'a fresh login');
    assert.ok(!mintsSession(anonymous));

    const alice = await signedIn(stack, 'alice');
    const signedInVictim = await alice.request(callback);
    assert.equal(signedInVictim.status, 302);
    assert.equal(signedInVictim.headers.location, stack.appUrl('/'));
    assert.ok(!mintsSession(signedInVictim));
    await alice.request(stack.appUrl('/who'));
    assert.equal(lastUser(stack), 'alice');
    assert.deepEqual(await storeOf(stack).list({ sub: BOB.sub }), []);

    // The code was never redeemed: the attacker can still finish, in the attacker's browser.
    const own = await attacker.request(callback);
    assert.ok(mintsSession(own));
  });

  test("tab A's state with tab B's flow cookie under A's name is an unknown flow", async (t) => {
    const stack = await stackFor(t);
    const browser = stack.browser();
    const callbackA = await untilCallback(browser, stack.appUrl('/a'), stack.origin);
    const callbackB = await untilCallback(browser, stack.appUrl('/b'), stack.origin);
    const flows = new Map(flowCookies(browser, stack.origin).map((c) => [c.name, c.value]));
    const valueB = flows.get(`gatehouse_flow_${flowIdOf(callbackB)}`)!;

    const answer = await stack.browser().request(callbackA, {
      headers: { cookie: `gatehouse_flow_${flowIdOf(callbackA)}=${valueB}` },
    });

    assert.equal(answer.status, 302);
    assert.ok(answer.headers.location!.startsWith(stack.provider.issuer));
    assert.ok(!mintsSession(answer));
    assert.equal(await storeOf(stack).count(), 0);
  });

  test("tab A's code with tab B's state and cookie fails PKCE and mints nothing", async (t) => {
    const stack = await stackFor(t);
    const browser = stack.browser();
    const callbackA = await untilCallback(browser, stack.appUrl('/a'), stack.origin);
    const callbackB = await untilCallback(browser, stack.appUrl('/b'), stack.origin);
    const swapped = new URL(callbackB);
    swapped.searchParams.set('code', callbackA.searchParams.get('code')!);

    const answer = await browser.request(swapped);

    assert.ok(!mintsSession(answer));
    assert.equal(await storeOf(stack).count(), 0);
  });

  test("a state sealed for application a is refused at application b's callback", async (t) => {
    const two = await startTwoApps();
    t.after(() => two.close());
    const attacker = two.browser();
    const callbackA = await untilCallback(attacker, `${two.a}/`, two.a, 'bob');
    const atB = new URL(`${two.b}${PREFIX}/callback${callbackA.search}`);
    const cookie = flowCookies(attacker, two.a)
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');

    const answer = await two.browser().request(atB, { headers: { cookie } });

    assert.equal(answer.status, 302);
    assert.ok(answer.headers.location!.startsWith(two.provider.issuer), 'a fresh login at b');
    assert.ok(
      answer.headers.location!.includes(encodeURIComponent(`${two.b}${PREFIX}/callback`)),
      "the fresh login is b's own",
    );
    assert.ok(!mintsSession(answer));
    assert.equal(await two.gatehouse.gatehouse.sessions.store.count(), 0);
  });

  test('a code issued to another client of the provider is not exchanged into a session', async (t) => {
    const two = await startTwoApps();
    t.after(() => two.close());
    const attacker = two.browser();
    // The attacker's own flow at Gatehouse gives a state, nonce and code challenge...
    const start = await attacker.request(`${two.a}${PREFIX}/start?rd=/`);
    const ours = new URL(start.headers.location!);
    // ...which it replays at the provider for a client of its own that lists Gatehouse's callback.
    const theirs = new URL(ours);
    theirs.searchParams.set('client_id', OTHER_CLIENT_ID);
    const callback = await untilCallback(attacker, theirs.href, two.a, 'bob');
    assert.ok(callback.searchParams.get('code'), `the provider issued a code: ${callback.search}`);

    const answer = await attacker.request(callback);

    assert.ok(!mintsSession(answer));
    assert.equal(await two.gatehouse.gatehouse.sessions.store.count(), 0);
  });

  test('a used callback replayed with its flow cookie from another browser mints no session', async (t) => {
    const stack = await stackFor(t);
    const victim = stack.browser();
    const callback = await untilCallback(victim, stack.appUrl('/'), stack.origin);
    const cookie = flowCookies(victim, stack.origin)
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
    assert.ok(mintsSession(await victim.request(callback)), 'the first use signs in');

    const replay = await stack.browser().request(callback, { headers: { cookie } });

    assert.ok(!mintsSession(replay), 'the code is used up');
    assert.equal(replay.status, 302);
    assert.equal((await storeOf(stack).list({ sub: ALICE.sub })).length, 1);
  });

  test('a tampered state or flow cookie (iv, body, tag, purpose swapped) mints nothing', async (t) => {
    const stack = await stackFor(t);
    const browser = stack.browser();
    const callback = await untilCallback(browser, stack.appUrl('/'), stack.origin);
    const state = callback.searchParams.get('state')!;
    const [flow] = flowCookies(browser, stack.origin);
    const variants: Array<{ what: string; state: string; cookie: string }> = [];
    for (const [where, index] of [
      ['iv', 0],
      ['body', 14],
      ['tag', -1],
    ] as const) {
      variants.push({
        what: `state ${where}`,
        state: flipBit(state, index),
        cookie: `${flow!.name}=${flow!.value}`,
      });
      variants.push({
        what: `flow ${where}`,
        state,
        cookie: `${flow!.name}=${flipBit(flow!.value, index)}`,
      });
    }
    variants.push({ what: 'flow as state', state: flow!.value, cookie: `${flow!.name}=${state}` });
    variants.push({
      what: 'state resealed as flow',
      state,
      cookie: `${flow!.name}=${seal(FLOW_KEY, 'flow', unseal(FLOW_KEY, 'state', state))}`,
    });

    for (const variant of variants) {
      const url = new URL(callback);
      url.searchParams.set('state', variant.state);
      const answer = await stack.browser().request(url, { headers: { cookie: variant.cookie } });
      assert.ok(!mintsSession(answer), variant.what);
      assert.notEqual(answer.status, 200, variant.what);
    }
    assert.equal(await storeOf(stack).count(), 0);
    assert.ok(mintsSession(await browser.request(callback)), 'the untouched flow still works');
  });

  for (const [what, change] of [
    ['another nonce', { nonce: 'not-the-nonce-gatehouse-sent' }],
    ['another audience', { aud: OTHER_CLIENT_ID }],
    ['another issuer', { iss: 'http://127.0.0.1:9/' }],
    ['an expired one', { exp: Math.floor(Date.now() / 1000) - 3600 }],
  ] as const) {
    test(`an ID token with ${what} in the code exchange mints no session and ends on a page`, async (t) => {
      const stack = await stackFor(t);
      rewriteProvider(stack.provider, async (ctx) => {
        const body = ctx.body as { id_token?: string } | undefined;
        if (ctx.oidc?.route === 'token' && body?.id_token)
          body.id_token = await resignIdToken(stack.providerKeysFile, body.id_token, change);
      });

      const landed = await stack.browser().login(stack.appUrl('/'), 'alice');

      assert.notEqual(landed.status, 200, landed.body);
      assert.ok(landed.url.startsWith(stack.origin), 'ends at Gatehouse, not in a loop');
      assert.equal(await storeOf(stack).count(), 0);
      assert.equal(stack.whoami.requests.length, 0);
    });
  }

  test("a provider error names no markup and needs Gatehouse's own state", async (t) => {
    const stack = await stackFor(t);
    const start = await stack.browser().request(`${stack.origin}${PREFIX}/start?rd=/`);
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const injected = `${stack.origin}${PREFIX}/callback?state=${state}&error=%3Cscript%3Ealert(1)%3C/script%3E&error_description=%22%3E%3Cimg%20src=x%3E`;

    const page = await stack.browser().request(injected);
    assert.equal(page.status, 400);
    assert.ok(!page.body.includes('<script>') && !page.body.includes('<img'), page.body);

    const unsealed = await stack
      .browser()
      .request(`${stack.origin}${PREFIX}/callback?state=forged&error=%3Cscript%3E`);
    assert.equal(unsealed.status, 302, 'without a state from here, only a fresh login');
  });
});

// ---------------------------------------------------------------------------------------------

describe('session fixation and return targets through the whole flow', () => {
  test('a session cookie planted before login is replaced, and the planted value never gets the identity', async (t) => {
    const stack = await stackFor(t);
    const attacker = await signedIn(stack, 'bob');
    const name = stack.gatehouse.gatehouse.router.applications[0]!.cookie.name;
    const planted = attacker.getCookie(name, stack.origin)!.value;
    // The attacker ends its own session so the victim's browser has to sign in.
    await attacker.request(`${stack.origin}${PREFIX}/sign_out`);
    const victim = stack.browser();
    victim.setCookie(name, planted, stack.origin, { path: '/', httpOnly: true });

    const landed = await victim.login(stack.appUrl('/'), 'alice');
    assert.equal(landed.status, 200);
    assert.equal(lastUser(stack), 'alice');
    const now = victim.getCookie(name, stack.origin)!.value;
    assert.notEqual(now, planted);

    const withPlanted = await stack
      .browser()
      .request(stack.appUrl('/as-planted'), { headers: { cookie: `${name}=${planted}` } });
    assert.equal(withPlanted.status, 302);
    assert.equal(lastUser(stack), 'alice', 'nothing more reached the application');
  });

  test('an rd naming a Gatehouse endpoint in any spelling lands on the root after a login, without a loop', async (t) => {
    const stack = await stackFor(t);
    const targets = [
      `${PREFIX}/start?rd=/x`,
      `${PREFIX}/callback?code=x&state=y`,
      `${PREFIX}/sign_out`,
      `${PREFIX.toUpperCase()}/sign_out`,
      `${PREFIX}%2Fsign_out`,
      `/a/..${PREFIX}/start`,
      `/%2e%2e${PREFIX}/start`,
      `${stack.origin}${PREFIX}/sign_out`,
      `${stack.origin}//${PREFIX.slice(1)}/start`,
      `${PREFIX}`,
    ];
    for (const target of targets) {
      const browser = stack.browser();
      const landed = await browser.login(
        `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent(target)}`,
        'alice',
      );
      assert.equal(landed.url, stack.appUrl('/'), target);
      assert.equal(landed.status, 200, target);
      for (const hop of landed.hops) {
        const origin = new URL(hop.url).origin;
        assert.ok(origin === stack.origin || origin === stack.provider.issuer, hop.url);
      }
      assert.ok(landed.hops.length < 12, `${target}: ${landed.hops.length} hops`);
    }
  });

  test('an rd longer than the bound, or one that leaves the site, lands on the root', async (t) => {
    const stack = await stackFor(t);
    for (const target of [
      `/${'a'.repeat(5000)}`,
      'https://evil.example/',
      `//evil.example/`,
      `/\\evil.example/`,
      `${stack.origin}@evil.example/`,
      `http://app.example.test:1/`,
    ]) {
      const landed = await stack
        .browser()
        .login(`${stack.origin}${PREFIX}/start?rd=${encodeURIComponent(target)}`, 'alice');
      assert.equal(landed.url, stack.appUrl('/'), target.slice(0, 60));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('flow cookie flooding', () => {
  test('a /start when every flow slot is taken evicts the oldest flow; it restarts, the rest finish', async (t) => {
    const stack = await stackFor(t);
    const browser = stack.browser();
    const callbacks: URL[] = [];
    for (let index = 0; index <= MAX_OPEN_FLOWS; index++)
      callbacks.push(await untilCallback(browser, stack.appUrl(`/tab/${index}`), stack.origin));
    const open = flowCookies(browser, stack.origin);
    assert.equal(open.length, MAX_OPEN_FLOWS);
    assert.ok(browser.cookieHeader(stack.origin).length < 8192, 'all open flows fit in one header');

    const evicted = await browser.request(callbacks[0]!);
    assert.ok(!mintsSession(evicted));
    assert.ok(evicted.headers.location!.startsWith(stack.provider.issuer));
    const newest = await browser.request(callbacks[MAX_OPEN_FLOWS]!);
    assert.ok(mintsSession(newest));
    assert.equal(newest.headers.location, stack.appUrl(`/tab/${MAX_OPEN_FLOWS}`));
  });
});

// ---------------------------------------------------------------------------------------------

describe('back-channel logout', () => {
  async function token(stack: Stack, claims: Record<string, unknown>, audience = TEST_CLIENT_ID) {
    const { key, kid } = await providerSigningKey(stack.providerKeysFile);
    return new jose.SignJWT({
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      jti: crypto.randomUUID(),
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid })
      .setIssuer((claims.iss as string | undefined) ?? stack.provider.issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(key);
  }

  test("a logout token for another client or another issuer, signed with the provider's key, ends nothing", async (t) => {
    const stack = await stackFor(t);
    await signedIn(stack, 'alice');
    for (const forged of [
      await token(stack, { sub: ALICE.sub }, OTHER_CLIENT_ID),
      await token(stack, { sub: ALICE.sub, iss: 'http://127.0.0.1:9' }),
      await token(stack, { sub: ALICE.sub, iss: `${stack.provider.issuer}/` }),
    ]) {
      const answer = await postLogoutToken(stack.gatehouseUrl, forged);
      assert.equal(answer.status, 400, await answer.text());
    }
    assert.equal((await storeOf(stack).list({ sub: ALICE.sub })).length, 1);
  });

  test("a logout token with alice's sub and bob's sid ends only the session of that sid", async (t) => {
    const stack = await stackFor(t, { backchannel: true });
    await signedIn(stack, 'alice');
    await signedIn(stack, 'bob');
    const bobSid = (await onlySession(storeOf(stack), BOB.sub)).sid;
    assert.ok(bobSid, 'sessions remember the provider sid');

    const answer = await postLogoutToken(
      stack.gatehouseUrl,
      await token(stack, { sub: ALICE.sub, sid: bobSid }),
    );

    // The sub is not cross-checked against the sid: the sid decides, as the provider signed it.
    assert.equal(answer.status, 200);
    assert.equal((await storeOf(stack).list({ sub: ALICE.sub })).length, 1, "alice's stays");
    assert.deepEqual(await storeOf(stack).list({ sub: BOB.sub }), []);
  });

  test("a logout token for bob ends none of alice's sessions", async (t) => {
    const stack = await stackFor(t);
    const alice = await signedIn(stack, 'alice');
    await signedIn(stack, 'bob');
    const provider = { keysFile: stack.providerKeysFile, issuer: stack.provider.issuer };

    const answer = await postLogoutToken(
      stack.gatehouseUrl,
      await logoutTokenFor(provider, BOB.sub),
    );

    assert.equal(answer.status, 200);
    assert.equal((await alice.request(stack.appUrl('/still'))).status, 200);
    assert.equal(lastUser(stack), 'alice');
  });
});

// ---------------------------------------------------------------------------------------------

describe('renewal', () => {
  test('a refresh that returns an ID token for another sub ends the session', async (t) => {
    const stack = await stackFor(t);
    const browser = await signedIn(stack, 'alice');
    await edit(storeOf(stack), ALICE.sub, dueForRefresh);
    rewriteProvider(stack.provider, async (ctx) => {
      const body = ctx.body as { id_token?: string } | undefined;
      if (ctx.oidc?.params?.grant_type === 'refresh_token' && body?.id_token)
        body.id_token = await resignIdToken(stack.providerKeysFile, body.id_token, {
          sub: BOB.sub,
        });
    });

    const answer = await browser.request(stack.appUrl('/refreshed'));

    assert.equal(answer.status, 302);
    assert.deepEqual(await storeOf(stack).list({ sub: ALICE.sub }), []);
    assert.deepEqual(await storeOf(stack).list({ sub: BOB.sub }), []);
  });

  test('a renewal finishing after a back-channel logout does not bring the session back (sqlite)', async (t) => {
    const stack = await stackFor(t, { store: 'sqlite' });
    const browser = await signedIn(stack, 'alice');
    await edit(storeOf(stack), ALICE.sub, dueForRefresh);
    const provider = { keysFile: stack.providerKeysFile, issuer: stack.provider.issuer };
    let logout: Response | undefined;
    // The logout arrives while the provider is answering the refresh.
    const koa = stack.provider.provider as unknown as {
      use(fn: (ctx: { path: string }, next: () => Promise<void>) => Promise<void>): void;
    };
    koa.use(async (ctx, next) => {
      if (ctx.path.endsWith('/token') && !logout)
        logout = await postLogoutToken(
          stack.gatehouseUrl,
          await logoutTokenFor(provider, ALICE.sub),
        );
      await next();
    });

    await browser.request(stack.appUrl('/racing'));
    assert.equal(logout?.status, 200);
    const afterwards = await browser.request(stack.appUrl('/after'));

    assert.equal(afterwards.status, 302);
    assert.deepEqual(await storeOf(stack).list({ sub: ALICE.sub }), []);
  });
});

// ---------------------------------------------------------------------------------------------

describe('lifetime, replicas, secret rotation and sign-out', () => {
  test('an idle session is refused by every replica once the touches are flushed', async (t) => {
    const stack = await stackFor(t);
    const browser = await signedIn(stack, 'alice');
    const replica = await startGatehouse(
      { ...stack.config, listen: '127.0.0.1:0' },
      { log: createLogger(process.env.GATEHOUSE_TEST_LOG ?? 'silent'), store: storeOf(stack) },
    );
    t.after(() => replica.close());
    const host = new URL(stack.origin).host;
    const cookie = browser.cookieHeader(stack.origin);
    const viaReplica = (path: string) =>
      new Browser().request(`${replica.url}${path}`, { headers: { host, cookie } });
    assert.equal((await viaReplica('/warm')).status, 200);
    await stack.gatehouse.gatehouse.sessions.flushTouches();
    await replica.gatehouse.sessions.flushTouches();
    await edit(storeOf(stack), ALICE.sub, (record) => {
      record.lastSeenAt = Date.now() - stack.config.session.idle_timeout - 1000;
    });

    assert.equal((await browser.request(stack.appUrl('/idle'))).status, 302);
    assert.equal((await viaReplica('/idle')).status, 302);
    // The refusals did not move the idle clock either.
    await stack.gatehouse.gatehouse.sessions.flushTouches();
    await replica.gatehouse.sessions.flushTouches();
    assert.equal((await viaReplica('/idle-again')).status, 302);
  });

  test('after a secret rotation the old cookie and an old state are refused and cleared', async (t) => {
    const stack = await stackFor(t);
    const browser = await signedIn(stack, 'alice');
    const pending = stack.browser();
    const callback = await untilCallback(pending, stack.appUrl('/kept'), stack.origin);
    const rotated = await startGatehouse(
      {
        ...stack.config,
        listen: '127.0.0.1:0',
        secret: 'another-secret-that-is-also-32-bytes-long!',
      },
      { log: createLogger(process.env.GATEHOUSE_TEST_LOG ?? 'silent'), store: storeOf(stack) },
    );
    t.after(() => rotated.close());
    const host = new URL(stack.origin).host;

    const old = await new Browser().request(`${rotated.url}/`, {
      headers: { host, cookie: browser.cookieHeader(stack.origin) },
    });
    assert.equal(old.status, 302);
    assert.ok(setCookies(old).some((line) => /gatehouse_session_app=;.*Max-Age=0/.test(line)));

    const finish = await new Browser().request(
      `${rotated.url}${PREFIX}/callback${callback.search}`,
      {
        headers: { host, cookie: pending.cookieHeader(stack.origin) },
      },
    );
    assert.equal(finish.status, 302);
    assert.ok(finish.headers.location!.startsWith(stack.provider.issuer), 'a fresh login');
    assert.ok(!mintsSession(finish));
  });

  test("alice's sign-out ends her sessions in every application of the provider, and none of bob's", async (t) => {
    const two = await startTwoApps();
    t.after(() => two.close());
    const alice = two.browser();
    assert.equal((await alice.login(`${two.a}/`, 'alice')).status, 200);
    assert.equal((await alice.login(`${two.b}/`, 'alice')).status, 200);
    const bob = two.browser();
    assert.equal((await bob.login(`${two.b}/`, 'bob')).status, 200);
    const store = two.gatehouse.gatehouse.sessions.store;

    const out = await alice.request(`${two.a}${PREFIX}/sign_out`);
    assert.equal(out.status, 302);

    assert.deepEqual(await store.list({ sub: ALICE.sub }), []);
    assert.equal((await bob.request(`${two.b}/still-bob`)).status, 200);
    assert.equal(two.whoami.requests.at(-1)?.headers['x-authentik-username'], 'bob');
    // Bob's cookie sent to a's sign-out (another application) ends nothing of bob's.
    const cross = await new Browser().request(`${two.a}${PREFIX}/sign_out`, {
      headers: {
        cookie: bob.cookieHeader(two.b).replaceAll('gatehouse_session_b', 'gatehouse_session_a'),
      },
    });
    assert.equal(cross.status, 200, 'not signed in at a: just the signed-out page');
    assert.equal((await store.list({ sub: BOB.sub })).length, 1);
  });
});
