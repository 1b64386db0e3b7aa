/**
 * The store goes away (F12) under `gatehouse serve` with the Redis store: Redis stopped, stalled
 * beyond `redis_timeout`, or behind a network path that drops connections or swallows bytes.
 * Every answer is then a 503 with `Retry-After` that keeps the cookie, readiness reports it, and
 * once the store is back the same cookie works without a new login. Nothing is ever deleted.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import { startGatehouse } from '../../src/cli.ts';
import { ALICE } from '../../src/demo/users.ts';
import { StoreUnavailableError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { SessionSelector } from '../../src/session/record.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { requireBinary } from '../support/binaries.ts';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { startReplicas, type Replicas } from '../support/gatehouse-process.ts';
import { logoutTokenFor, postLogoutToken } from '../support/logout-tokens.ts';
import { startRedis, type RunningRedis } from '../support/redis.ts';
import { PREFIX, startStack } from '../support/stack.ts';

const redisServer = requireBinary('redis-server');

const COOKIE = 'gatehouse_session_app';
const TIMEOUT_MS = 300;
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };

type Outage = {
  redis: RunningRedis;
  deployment: Replicas;
  browser: Browser;
  /** The stored key of alice's session, read through a client of its own. */
  sessionKey: string;
  cookie: string;
  direct: RedisSessionStore;
};

describe('the session store goes away', { skip: redisServer.skip }, () => {
  test('Redis stopped: 503 with Retry-After and the cookie kept; back, the same cookie works', async (t) => {
    const outage = await signedInBehind(t, (redis) => redis.url);
    const { redis, deployment } = outage;
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 }).on('error', () => {});
    t.after(() => raw.disconnect());
    // A snapshot, so the restarted server has the sessions a persistent Redis would keep.
    await raw.save();
    const seen = deployment.whoami.requests.length;

    await redis.stop();

    const timings = await expectOutage(outage, 'stopped');
    assert.equal(deployment.whoami.requests.length, seen, 'the application received nothing');
    t.diagnostic(`503 while stopped: ${describeTimings(timings)}`);

    await redis.start();
    await expectRecovery(outage);
  });

  test('Redis stalled beyond redis_timeout: 503s; resumed, the same cookie works', async (t) => {
    const outage = await signedInBehind(t, (redis) => redis.url);
    const { redis, deployment } = outage;
    const seen = deployment.whoami.requests.length;

    redis.pause();
    let timings: number[];
    try {
      timings = await expectOutage(outage, 'paused');
    } finally {
      redis.resume();
    }
    assert.equal(deployment.whoami.requests.length, seen, 'the application received nothing');
    t.diagnostic(`503 while paused (redis_timeout ${TIMEOUT_MS} ms): ${describeTimings(timings)}`);

    await expectRecovery(outage);
  });

  test('a network path that drops connections or hangs gives 503s, never a sign-out', async (t) => {
    let proxy!: RedisFaultProxy;
    const outage = await signedInBehind(t, async (redis) => {
      proxy = await RedisFaultProxy.start(redis.port);
      t.after(() => proxy.close());
      return proxy.url;
    });
    const { deployment, browser } = outage;

    proxy.dropEvery(4);
    const seen = deployment.whoami.requests.length;
    const answers: BrowserResponse[] = [];
    for (let i = 0; i < 40; i++) {
      const headers = i % 2 === 1 ? API : {};
      answers.push(await browser.request(deployment.appUrl(`/flaky/${i}`), { headers }));
      // Paced, so the client's reconnections fall between requests as on a busy server.
      await sleep(25);
    }

    const statuses = answers.map((answer) => answer.status);
    for (const [i, answer] of answers.entries()) {
      if (answer.status === 200) continue;
      assertUnavailable(answer, i % 2 === 1, `flaky request ${i}`);
      assertCookieKept(outage, answer, `flaky request ${i}`);
    }
    const firstFailure = statuses.indexOf(503);
    assert.ok(firstFailure >= 0, `the fault showed: ${statuses.join(' ')}`);
    assert.ok(
      statuses.indexOf(200, firstFailure) > 0,
      `recovered between faults: ${statuses.join(' ')}`,
    );
    const forwarded = deployment.whoami.requests.slice(seen);
    assert.equal(forwarded.length, statuses.filter((status) => status === 200).length);
    for (const request of forwarded) assert.equal(request.headers['x-authentik-username'], 'alice');
    t.diagnostic(`dropping every 4th write: ${statuses.join(' ')}`);

    proxy.heal();
    await expectRecovery(outage);
    proxy.hang();
    const hung = deployment.whoami.requests.length;
    const timings = await expectOutage(outage, 'hung');
    assert.equal(deployment.whoami.requests.length, hung, 'the application received nothing');
    t.diagnostic(`503 while the path hangs: ${describeTimings(timings)}`);

    proxy.heal();
    await expectRecovery(outage);
  });
});

test('a back-channel logout the store could not carry out can be delivered again', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  const shared = stack.gatehouse.gatehouse.sessions.store;
  let failures = 1;
  // The store answers the jti claim, then times out while the sessions are being deleted.
  const deleteWhere = async (selector: SessionSelector) => {
    if (failures-- > 0) throw new StoreUnavailableError('redis session store: timed out');
    return shared.deleteWhere(selector);
  };
  const flaky = new Proxy(shared, {
    get(target, name) {
      if (name === 'deleteWhere') return deleteWhere;
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const replica = await startGatehouse(
    { ...stack.config, listen: '127.0.0.1:0' },
    { log: createLogger('silent'), store: flaky },
  );
  t.after(() => replica.close());
  const token = await logoutTokenFor(
    { keysFile: stack.providerKeysFile, issuer: stack.provider.issuer },
    ALICE.sub,
  );

  const first = await postLogoutToken(replica.url, token);
  assert.equal(first.status, 503);
  assert.ok(first.headers.get('retry-after'));
  assert.equal((await browser.request(stack.appUrl('/'))).status, 200, 'nothing ended yet');

  const again = await postLogoutToken(replica.url, token);

  assert.equal(again.status, 200, await again.text());
  assert.equal((await browser.request(stack.appUrl('/'))).status, 302);
  assert.equal((await postLogoutToken(replica.url, token)).status, 400, 'then it is used');
});

/** Redis, Gatehouse in front of `redisUrl(redis)`, and alice signed in through it. */
async function signedInBehind(
  t: TestContext,
  redisUrl: (redis: RunningRedis) => string | Promise<string>,
): Promise<Outage> {
  const redis = await startRedis();
  t.after(() => redis.close());
  const deployment = await startReplicas({
    session: { store: 'redis', redis_url: await redisUrl(redis), redis_timeout: `${TIMEOUT_MS}ms` },
  });
  t.after(() => deployment.close());
  const direct = new RedisSessionStore({ url: redis.url });
  t.after(() => direct.close());

  const browser = deployment.browser();
  const landed = await browser.login(deployment.appUrl('/'), 'alice');
  assert.equal(landed.status, 200, deployment.replicas[0]!.logs());
  const [record] = await direct.list({ sub: ALICE.sub });
  const cookie = browser.getCookie(COOKIE, deployment.origin)?.value;
  assert.ok(record && cookie);
  return { redis, deployment, browser, sessionKey: record.key, cookie, direct };
}

/**
 * A navigation, an API request, a form post and readiness during the outage: all 503 with
 * `Retry-After`, none touching the cookie. Returns how long each request took to be answered.
 */
async function expectOutage(outage: Outage, what: string): Promise<number[]> {
  const { deployment, browser } = outage;
  const timings: number[] = [];
  const timed = async (call: () => Promise<BrowserResponse>) => {
    const started = performance.now();
    const response = await call();
    timings.push(performance.now() - started);
    return response;
  };

  for (let i = 0; i < 3; i++) {
    const page = await timed(() => browser.request(deployment.appUrl(`/${what}/${i}`)));
    assertUnavailable(page, false, `navigation while ${what}`);
    assertCookieKept(outage, page, `navigation while ${what}`);

    const api = await timed(() =>
      browser.request(deployment.appUrl(`/api/${what}`), { headers: API }),
    );
    assertUnavailable(api, true, `API request while ${what}`);
    assertCookieKept(outage, api, `API request while ${what}`);
  }
  const post = await timed(() =>
    browser.request(deployment.appUrl('/items'), {
      method: 'POST',
      body: new URLSearchParams({ item: 'kept' }),
    }),
  );
  assertUnavailable(post, false, `form post while ${what}`);
  assertCookieKept(outage, post, `form post while ${what}`);

  const ready = await fetch(`${deployment.replicas[0]!.url}${PREFIX}/ready`);
  assert.equal(ready.status, 503, `/ready while ${what}`);
  assert.ok(ready.headers.get('retry-after'), `/ready while ${what} has Retry-After`);
  return timings;
}

/** Readiness returns, the same cookie is let through as alice, and no new login was needed. */
async function expectRecovery(outage: Outage): Promise<void> {
  const { deployment, browser, direct } = outage;
  const logins = deployment.provider.counters.tokenRequests;
  const ready = await eventually(async () => {
    const response = await fetch(`${deployment.replicas[0]!.url}${PREFIX}/ready`);
    if (response.status !== 200) throw new Error(`/ready is ${response.status}`);
    return response;
  });
  assert.equal(((await ready.json()) as { store: string }).store, 'redis');

  const page = await browser.request(deployment.appUrl('/back'));

  assert.equal(page.status, 200, page.body);
  assert.equal(deployment.whoami.requests.at(-1)!.headers['x-authentik-username'], 'alice');
  assert.equal(browser.getCookie(COOKIE, deployment.origin)?.value, outage.cookie);
  assert.equal(deployment.provider.counters.tokenRequests, logins, 'no new login');
  const records = await direct.list({ sub: ALICE.sub });
  assert.deepEqual(
    records.map((record) => record.key),
    [outage.sessionKey],
    'the session record was kept',
  );
}

function assertUnavailable(response: BrowserResponse, api: boolean, what: string): void {
  assert.equal(response.status, 503, `${what}: ${response.status} ${response.body}`);
  assert.ok(Number(response.headers['retry-after']) > 0, `${what} has Retry-After`);
  if (api) {
    assert.match(String(response.headers['content-type']), /^application\/json/, what);
    assert.equal((JSON.parse(response.body) as { error: string }).error, 'unavailable', what);
  }
}

function assertCookieKept(outage: Outage, response: BrowserResponse, what: string): void {
  const lines = response.headers['set-cookie'] ?? [];
  assert.ok(!lines.some((line) => line.startsWith(`${COOKIE}=`)), `${what} set ${lines.join()}`);
  assert.equal(
    outage.browser.getCookie(COOKIE, outage.deployment.origin)?.value,
    outage.cookie,
    `${what} left the cookie`,
  );
}

function describeTimings(timings: number[]): string {
  return `${timings.map((value) => Math.round(value)).join(', ')} ms`;
}

async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

/**
 * A TCP hop between Gatehouse and Redis that forwards, resets the connection carrying every nth
 * write from Gatehouse (so that call and everything queued behind it fail), or accepts and then
 * swallows every byte in both directions, as a partitioned network does.
 */
class RedisFaultProxy {
  readonly url: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #dropEvery = 0;
  #writes = 0;
  #hanging = false;

  private constructor(server: Server) {
    this.#server = server;
    this.url = `redis://127.0.0.1:${(server.address() as AddressInfo).port}/0`;
  }

  static async start(targetPort: number): Promise<RedisFaultProxy> {
    let proxy: RedisFaultProxy | undefined;
    const server = createServer((client) => proxy!.#accept(client, targetPort));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = new RedisFaultProxy(server);
    return proxy;
  }

  dropEvery(n: number): void {
    this.#dropEvery = n;
    this.#writes = 0;
  }

  hang(): void {
    this.#hanging = true;
  }

  /** Forwards everything again; connections that lost bytes while hanging are closed. */
  heal(): void {
    const hung = this.#hanging;
    this.#hanging = false;
    this.#dropEvery = 0;
    if (hung) for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }

  #accept(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket)).on('error', () => {});
    }
    client.on('data', (chunk) => {
      if (this.#hanging) return;
      if (this.#dropEvery && ++this.#writes % this.#dropEvery === 0) {
        upstream.destroy();
        client.resetAndDestroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => !this.#hanging && client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}
