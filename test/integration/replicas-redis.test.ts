/**
 * Two `gatehouse serve` processes sharing one Redis: a session, a logout, a refresh and a used
 * logout token are the same in both, and sessions outlive the processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';

import { ALICE } from '../../src/demo/users.ts';
import type { SessionRecord } from '../../src/session/record.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { requireBinary } from '../support/binaries.ts';
import type { BrowserResponse } from '../support/browser.ts';
import { startReplicas, type Replicas } from '../support/gatehouse-process.ts';
import { logoutTokenFor, postLogoutToken } from '../support/logout-tokens.ts';
import { TEST_CLIENT_ID } from '../support/provider.ts';
import { startRedis, type RunningRedis } from '../support/redis.ts';
import { untilCallback } from '../support/sign-in-steps.ts';
import { PREFIX } from '../support/stack.ts';

const redisServer = requireBinary('redis-server');

describe('replicas sharing a Redis store', { skip: redisServer.skip }, () => {
  let redis: RunningRedis;
  let deployments = 0;
  /** The store Gatehouse itself uses, on the same server and key prefix, to inspect and edit. */
  let store: RedisSessionStore;

  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  /** Two replicas with a key prefix of their own, stopped when the test ends. */
  async function deployment(
    t: TestContext,
    options: Partial<Parameters<typeof startReplicas>[0]> = {},
  ): Promise<Replicas> {
    const keyPrefix = `replicas${++deployments}:`;
    store = new RedisSessionStore({ url: redis.url, keyPrefix });
    t.after(() => store.close());
    const started = await startReplicas({
      replicas: 2,
      session: { store: 'redis', redis_url: redis.url, redis_key_prefix: keyPrefix },
      ...options,
    });
    t.after(() => started.close());
    return started;
  }

  async function signedIn(replicas: Replicas) {
    const browser = replicas.browser();
    const landed = await browser.login(replicas.appUrl('/'), 'alice');
    assert.equal(landed.status, 200, replicas.replicas[0]!.logs());
    return browser;
  }

  async function aliceSessions(): Promise<SessionRecord[]> {
    return store.list({ sub: ALICE.sub });
  }

  function seenAsAlice(replicas: Replicas, response: BrowserResponse, what: string): void {
    assert.equal(response.status, 200, `${what}: ${response.body}`);
    assert.equal(replicas.whoami.requests.at(-1)!.headers['x-authentik-username'], 'alice', what);
  }

  test('a session signed in through one replica is valid at the other', async (t) => {
    const replicas = await deployment(t);
    const [, b] = replicas.replicas;
    const browser = await signedIn(replicas);

    const page = await replicas.via(b!, browser, '/through-b');

    seenAsAlice(replicas, page, 'the request through B');
    assert.equal(replicas.whoami.requests.at(-1)!.url, '/through-b');
    assert.equal(page.headers['set-cookie'], undefined, 'B issues no cookie of its own');
  });

  test('a sign-in started at one replica finishes at the other', async (t) => {
    const replicas = await deployment(t);
    const [a, b] = replicas.replicas;
    const browser = replicas.browser();
    const callback = await untilCallback(browser, replicas.appUrl('/start-here'), replicas.origin);

    const landed = await replicas.via(b!, browser, `${callback.pathname}${callback.search}`);

    assert.equal(landed.status, 302, `${landed.body}\n${b!.logs()}`);
    assert.equal(landed.headers.location, replicas.appUrl('/start-here'));
    for (const line of landed.headers['set-cookie'] ?? []) browser.jar.store(line, callback);
    seenAsAlice(replicas, await replicas.via(a!, browser, '/start-here'), 'back at A');
  });

  test('a sign-out at one replica ends the session at the other', async (t) => {
    const replicas = await deployment(t);
    const [, b] = replicas.replicas;
    const browser = await signedIn(replicas);
    const stale = browser.cookieHeader(replicas.origin);

    const signedOut = await browser.request(replicas.appUrl(`${PREFIX}/sign_out`));

    assert.equal(signedOut.status, 302);
    assert.ok(signedOut.headers.location?.startsWith(replicas.provider.issuer));
    const page = await replicas.via(b!, browser, '/after', { headers: { cookie: stale } });
    assert.equal(page.status, 302);
    assert.ok(page.headers.location?.startsWith(replicas.provider.issuer), page.headers.location);
    assert.deepEqual(await aliceSessions(), []);
  });

  test('a back-channel logout delivered to one replica ends the session at the other', async (t) => {
    const replicas = await deployment(t, { backchannel: true });
    const [, b] = replicas.replicas;
    const browser = await signedIn(replicas);
    seenAsAlice(replicas, await replicas.via(b!, browser, '/before'), 'before the logout');
    const seen = replicas.whoami.requests.length;

    const result = await replicas.provider.endSessions(ALICE.sub);

    assert.deepEqual(result.failed, []);
    assert.deepEqual(result.delivered, [TEST_CLIENT_ID]);
    const page = await replicas.via(b!, browser, '/after');
    assert.equal(page.status, 302);
    assert.ok(page.headers.location?.startsWith(replicas.provider.issuer), page.headers.location);
    const api = await replicas.via(b!, browser, '/api/after', {
      headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' },
    });
    assert.equal(api.status, 401);
    assert.equal(replicas.whoami.requests.length, seen, 'the application received nothing');
    assert.deepEqual(await aliceSessions(), []);
  });

  test('ten requests split across replicas at refresh time refresh once and all succeed', async (t) => {
    const replicas = await deployment(t, { provider: { rotateRefreshToken: true } });
    const [a, b] = replicas.replicas;
    const browser = await signedIn(replicas);
    const [record] = await aliceSessions();
    assert.ok(record?.refreshToken, 'the provider issued a refresh token');
    // An access token obtained an hour ago that expires in a second: due for refresh.
    await store.put({
      ...record,
      accessTokenIssuedAt: Date.now() - 3_600_000,
      accessTokenExpiresAt: Date.now() + 1000,
    });
    const refreshesBefore = replicas.provider.counters.refreshGrants;

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        replicas.via(index % 2 ? a! : b!, browser, `/dashboard/${index}`),
      ),
    );

    assert.deepEqual(
      results.map((result) => result.status),
      Array(10).fill(200),
      `${a!.logs()}\n${b!.logs()}`,
    );
    assert.equal(replicas.provider.counters.refreshGrants - refreshesBefore, 1);
    const [after] = await aliceSessions();
    assert.notEqual(after!.refreshToken, record.refreshToken, 'the rotated token is stored');
    assert.ok(after!.accessTokenExpiresAt! > Date.now() + 60_000, 'the new access token is stored');
    seenAsAlice(replicas, await replicas.via(b!, browser, '/later'), 'after the refresh');
  });

  test('sessions survive a restart of every replica', async (t) => {
    const replicas = await deployment(t);
    const [a, b] = replicas.replicas;
    const browser = await signedIn(replicas);
    const logins = replicas.provider.counters.tokenRequests;

    await Promise.all([a!.stop(), b!.stop()]);
    await Promise.all([a!.start(), b!.start()]);

    seenAsAlice(replicas, await replicas.via(a!, browser, '/after-restart'), 'through A');
    seenAsAlice(replicas, await replicas.via(b!, browser, '/after-restart'), 'through B');
    assert.equal(replicas.provider.counters.tokenRequests, logins, 'no new login');
  });

  test('a logout token used at one replica is refused when replayed to the other', async (t) => {
    const replicas = await deployment(t);
    const [a, b] = replicas.replicas;
    await signedIn(replicas);
    const token = await logoutTokenFor(
      { keysFile: replicas.providerKeysFile, issuer: replicas.provider.issuer },
      ALICE.sub,
    );

    const first = await postLogoutToken(a!.url, token);
    assert.equal(first.status, 200);
    assert.deepEqual(await aliceSessions(), []);

    const again = await signedIn(replicas);
    const replay = await postLogoutToken(b!.url, token);

    assert.equal(replay.status, 400);
    assert.match(((await replay.json()) as { reason: string }).reason, /already used/);
    seenAsAlice(replicas, await replicas.via(b!, again, '/still-signed-in'), 'after the replay');
  });
});
