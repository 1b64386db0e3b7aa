import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import { isStoreUnavailable } from '../../src/errors.ts';
import type { SessionRecord, SessionSelector } from '../../src/session/record.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { requireBinary } from '../support/binaries.ts';
import { startRedis, type RunningRedis } from '../support/redis.ts';

const redisServer = requireBinary('redis-server');

describe('RedisSessionStore', { skip: redisServer.skip }, () => {
  let redis: RunningRedis;
  let raw: Redis;
  let stores = 0;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 }).on('error', () => {});
  });
  after(async () => {
    raw.disconnect();
    await redis.close();
  });

  /** A store with a key prefix of its own, closed when the test ends. */
  async function open(t: TestContext, options: { url?: string; now?: () => number } = {}) {
    const keyPrefix = `t${++stores}:`;
    const store = new RedisSessionStore({ url: redis.url, ...options, keyPrefix });
    t.after(() => store.close());
    if (!options.url) await eventually(() => store.ping());
    return { store, prefix: keyPrefix };
  }

  test('update rewrites an existing record and never brings back a deleted one', async (t) => {
    const { store } = await open(t);
    const stored = session({ key: 'u1', claims: { groups: ['a'] } });

    assert.equal(await store.update(stored), false, 'nothing to update yet');
    assert.equal(await store.get('u1'), undefined);
    await store.put(stored);
    assert.equal(await store.update({ ...stored, claims: { groups: ['b'] } }), true);
    assert.deepEqual((await store.get('u1'))?.claims, { groups: ['b'] });
    await store.delete('u1');
    assert.equal(await store.update(stored), false);
    assert.equal(await store.get('u1'), undefined);
  });

  test('a record put is read back whole, and is gone after delete', async (t) => {
    const { store, prefix } = await open(t);
    const stored = session({ key: 'k1', claims: { groups: [], email: 'a@example.com' } });

    await store.put(stored);
    assert.deepEqual(await store.get('k1'), stored);

    await store.delete('k1');
    assert.equal(await store.get('k1'), undefined);
    assert.deepEqual(await raw.keys(`${prefix}*`), []);
  });

  test('the record, its last-seen time and its indexes expire with the session', async (t) => {
    const { store, prefix } = await open(t);
    await store.put(session({ key: 'long', sub: 'alice', expiresAt: Date.now() + 60_000 }));
    await store.put(session({ key: 'short', sub: 'alice', expiresAt: Date.now() + 5_000 }));

    const recordTtl = await raw.pttl(`${prefix}session:long`);
    assert.ok(recordTtl > 55_000 && recordTtl <= 60_000, `PTTL ${recordTtl}`);
    assert.ok((await raw.pttl(`${prefix}seen:long`)) > 55_000);
    assert.ok(
      (await raw.pttl(`${prefix}sub:alice`)) > 55_000,
      'a shorter session must not shorten',
    );
    assert.ok((await raw.pttl(`${prefix}sid:sid-1`)) > 55_000);
  });

  test('an expired record is neither stored nor returned', async (t) => {
    let now = Date.now();
    const { store, prefix } = await open(t, { now: () => now });

    await store.put(session({ key: 'past', expiresAt: now - 1 }));
    assert.equal(await raw.exists(`${prefix}session:past`), 0);
    assert.equal(await store.get('past'), undefined);

    await store.put(session({ key: 'soon', expiresAt: now + 60_000 }));
    now += 60_000;
    assert.equal(await store.get('soon'), undefined);
  });

  test('list and deleteWhere pick by sub, by sid, by app, and nothing else', async (t) => {
    const { store, prefix } = await open(t);
    await store.put(session({ key: 'a1', app: 'wiki', sub: 'alice', sid: 's1' }));
    await store.put(session({ key: 'a2', app: 'mail', sub: 'alice', sid: 's1' }));
    await store.put(session({ key: 'a3', app: 'wiki', sub: 'alice', sid: 's2' }));
    await store.put(session({ key: 'b1', app: 'wiki', sub: 'bob', sid: 's3' }));

    const keys = async (selector: SessionSelector) =>
      (await store.list(selector)).map((record) => record.key).sort();
    assert.deepEqual(await keys({ sub: 'alice' }), ['a1', 'a2', 'a3']);
    assert.deepEqual(await keys({ app: 'wiki', sid: 's1' }), ['a1']);
    assert.deepEqual(await keys({ app: 'wiki' }), ['a1', 'a3', 'b1']);

    assert.equal(await store.deleteWhere({ app: 'mail', sub: 'alice' }), 1);
    assert.equal(await store.get('a2'), undefined);
    assert.equal(await store.deleteWhere({ sid: 's1' }), 1);
    assert.equal(await store.get('a1'), undefined);
    assert.equal(await store.deleteWhere({ sub: 'alice' }), 1);
    assert.equal(await store.deleteWhere({ sub: 'alice' }), 0);
    assert.equal(await store.deleteWhere({}), 0);

    assert.equal((await store.get('b1'))?.sub, 'bob');
    assert.deepEqual(await raw.smembers(`${prefix}sub:alice`), []);
  });

  test('touch raises last-seen in one batch, never lowers it, never creates a session', async (t) => {
    const { store, prefix } = await open(t);
    const start = Date.now();
    await store.put(session({ key: 'k1', lastSeenAt: start }));
    await store.put(session({ key: 'k2', lastSeenAt: start }));

    await store.touch([
      { key: 'k1', lastSeenAt: start + 5_000 },
      { key: 'k2', lastSeenAt: start - 5_000 },
      { key: 'unknown', lastSeenAt: start },
    ]);

    assert.equal((await store.get('k1'))?.lastSeenAt, start + 5_000);
    assert.equal((await store.get('k2'))?.lastSeenAt, start);
    assert.equal(
      (await store.list({ sub: 'alice' })).find((r) => r.key === 'k1')?.lastSeenAt,
      start + 5_000,
    );
    assert.equal(await raw.exists(`${prefix}seen:unknown`, `${prefix}session:unknown`), 0);
  });

  test('count, one-time claims and locks', async (t) => {
    const { store } = await open(t);
    await store.put(session({ key: 'k1' }));
    await store.put(session({ key: 'k2', sub: 'bob' }));
    assert.equal(await store.count(), 2);

    assert.equal(await store.claimOnce('jti-1', 60_000), true);
    assert.equal(await store.claimOnce('jti-1', 60_000), false);

    const token = await store.acquireLock('refresh:k1', 60_000);
    assert.ok(token);
    assert.equal(await store.acquireLock('refresh:k1', 60_000), undefined);
    await store.releaseLock('refresh:k1', 'someone-else');
    assert.equal(await store.acquireLock('refresh:k1', 60_000), undefined);
    await store.releaseLock('refresh:k1', token);
    assert.ok(await store.acquireLock('refresh:k1', 60_000));
  });

  test('a server error is an unavailable store, never "no such session"', async (t) => {
    const { store, prefix } = await open(t);
    await raw.rpush(`${prefix}session:k1`, 'not a string');

    await rejectsUnavailable(store.get('k1'));
  });

  test('a killed Redis fails calls promptly, and the client reconnects when it is back', async (t) => {
    const { store } = await open(t);
    await redis.stop();

    await rejectsUnavailable(store.get('k1'));
    await rejectsUnavailable(store.put(session({ key: 'k1' })));
    await rejectsUnavailable(store.ping());

    await redis.start();
    await eventually(() => store.ping());
    // The test server keeps nothing across SIGKILL, so the record is written afresh.
    await store.put(session({ key: 'k1' }));
    assert.equal((await store.get('k1'))?.key, 'k1');
  });

  test('a stalled Redis times calls out, and the same record is there once it resumes', async (t) => {
    const { store } = await open(t);
    await store.put(session({ key: 'k1' }));
    redis.pause();
    try {
      await Promise.all([
        rejectsUnavailable(store.get('k1')),
        rejectsUnavailable(store.deleteWhere({ sub: 'alice' })),
        rejectsUnavailable(store.ping()),
      ]);
    } finally {
      redis.resume();
    }

    await eventually(() => store.ping());
    assert.equal((await store.get('k1'))?.key, 'k1');
  });

  test('refused and black-holed connections fail calls and delete nothing', async (t) => {
    const proxy = await startFaultProxy(redis.port);
    t.after(() => proxy.close());
    proxy.setMode('refuse');
    const { store, prefix } = await open(t, { url: proxy.url });
    await rejectsUnavailable(store.ping(), 'a store opened while Redis is unreachable');

    for (const mode of ['refuse', 'hang'] as const) {
      proxy.setMode('pass');
      await eventually(() => store.ping());
      await store.put(session({ key: 'k1' }));

      proxy.setMode(mode);
      await Promise.all([
        rejectsUnavailable(store.get('k1'), mode),
        rejectsUnavailable(store.delete('k1'), mode),
        rejectsUnavailable(store.deleteWhere({ sub: 'alice' }), mode),
      ]);
      assert.equal(await raw.exists(`${prefix}session:k1`), 1, `${mode} deleted the record`);
    }

    proxy.setMode('pass');
    await eventually(() => store.ping());
    assert.equal((await store.get('k1'))?.key, 'k1');
  });
});

function session(fields: Partial<SessionRecord> & { key: string }): SessionRecord {
  const now = Date.now();
  return {
    app: 'wiki',
    sub: 'alice',
    sid: 'sid-1',
    claims: { sub: fields.sub ?? 'alice' },
    createdAt: now,
    expiresAt: now + 3_600_000,
    lastSeenAt: now,
    validatedAt: now,
    ...fields,
  };
}

/** Asserts a StoreUnavailableError, within a bound generous enough never to flake. */
async function rejectsUnavailable(call: Promise<unknown>, what = 'the call'): Promise<void> {
  const started = Date.now();
  await assert.rejects(call, (error) => isStoreUnavailable(error), `${what} must reject`);
  assert.ok(Date.now() - started < 5_000, `${what} took ${Date.now() - started} ms to fail`);
}

async function eventually(check: () => Promise<unknown>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

type FaultMode = 'pass' | 'refuse' | 'hang';

/**
 * A TCP hop in front of Redis that forwards, resets every connection, or accepts and then
 * swallows every byte, as a dead backend behind a load balancer or a partitioned network does.
 */
async function startFaultProxy(targetPort: number) {
  let mode: FaultMode = 'pass';
  const sockets = new Set<Socket>();
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => {});
    return socket;
  };

  const server = createServer((client) => {
    track(client);
    if (mode === 'refuse') return void client.resetAndDestroy();
    if (mode === 'hang') return;
    const upstream = track(connect(targetPort, '127.0.0.1'));
    client.on('data', (chunk) => mode === 'pass' && upstream.write(chunk));
    upstream.on('data', (chunk) => mode === 'pass' && client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `redis://127.0.0.1:${port}/0`,
    setMode(next: FaultMode) {
      mode = next;
      // Hung connections dropped bytes mid-reply, so none of them is fit to carry on.
      if (next !== 'hang') for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
