/**
 * Anonymous traffic fills the store (F7), on Redis: a crawler's or health checker's requests
 * without a usable cookie write nothing, however many arrive, and signed-in users carry on.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';

import { Redis } from 'ioredis';

import { requireBinary } from '../support/binaries.ts';
import { startReplicas, type Replicas } from '../support/gatehouse-process.ts';
import { NAVIGATION_HEADERS } from '../support/browser.ts';
import { startRedis } from '../support/redis.ts';

const redisServer = requireBinary('redis-server');

const REQUESTS = 10_000;
const CONCURRENCY = 32;

/** What a crawler, a health checker and a client with a cookie from elsewhere send. */
const ANONYMOUS: Array<{ path: string; headers: Record<string, string>; expect: number }> = [
  { path: '/', headers: { ...NAVIGATION_HEADERS }, expect: 302 },
  { path: '/health', headers: { accept: '*/*', 'user-agent': 'kube-probe/1.31' }, expect: 401 },
  { path: '/api/items', headers: { accept: 'application/json' }, expect: 401 },
  {
    path: '/page',
    headers: { ...NAVIGATION_HEADERS, cookie: 'gatehouse_session_app=not-a-session-id' },
    expect: 302,
  },
];

test(
  '10 000 anonymous requests leave Redis the same size, and a signed-in user still works (F7)',
  { skip: redisServer.skip },
  async (t) => {
    const redis = await startRedis();
    t.after(() => redis.close());
    const raw = new Redis(redis.url);
    t.after(() => raw.disconnect());
    const deployment = await startReplicas({ session: { store: 'redis', redis_url: redis.url } });
    t.after(() => deployment.close());
    const browser = deployment.browser();
    assert.equal((await browser.login(deployment.appUrl('/'), 'alice')).status, 200);
    const keysBefore = await raw.dbsize();
    assert.ok(keysBefore > 0, 'the signed-in session is in Redis');
    const forwardedBefore = deployment.whoami.requests.length;

    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    t.after(() => agent.destroy());
    const statuses = new Map<number, number>();
    let next = 0;
    let signedInChecks = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        const index = next++;
        const kind = ANONYMOUS[index % ANONYMOUS.length]!;
        const status = await send(deployment, agent, kind.path, kind.headers);
        assert.equal(status, kind.expect, `anonymous request ${index} to ${kind.path}`);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (index % 1000 === 0) {
          const page = await browser.request(deployment.appUrl(`/signed-in/${index}`));
          assert.equal(page.status, 200, 'the signed-in user during the flood');
          signedInChecks++;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    assert.equal(await raw.dbsize(), keysBefore, 'Redis has as many keys as before');
    assert.equal(
      [...statuses.values()].reduce((sum, n) => sum + n, 0),
      REQUESTS,
      'every request was answered',
    );
    assert.equal(
      deployment.whoami.requests.length - forwardedBefore,
      signedInChecks,
      'only the signed-in requests reached the application',
    );
    const page = await browser.request(deployment.appUrl('/after-the-flood'));
    assert.equal(page.status, 200);
    assert.equal(deployment.whoami.requests.at(-1)!.headers['x-authentik-username'], 'alice');
    t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
  },
);

/** One request on the shared keep-alive agent; resolves with its status once the body is read. */
function send(
  deployment: Replicas,
  agent: Agent,
  path: string,
  headers: Record<string, string>,
): Promise<number> {
  const replica = deployment.replicas[0]!;
  return new Promise((resolve, reject) => {
    const req = request(
      `${replica.url}${path}`,
      { agent, headers: { ...headers, host: new URL(deployment.origin).host } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
