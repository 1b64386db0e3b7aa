/**
 * A session ends when it has gone unused for `session.idle_timeout` or reached
 * `session.lifetime`, whichever comes first; the idle clock moves in memory on every request and
 * reaches the store only in batches.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { startGatehouse, type Running } from '../../src/cli.ts';
import { ALICE, BOB } from '../../src/demo/users.ts';
import { createLogger } from '../../src/log.ts';
import type { SessionRecord, SessionStore, SessionTouch } from '../../src/session/record.ts';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { startStack, type Stack } from '../support/stack.ts';

const MINUTE = 60_000;
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };

/** A stack whose sessions last an hour and end after ten idle minutes. */
async function shortSessions(t: TestContext): Promise<Stack> {
  const stack = await startStack({
    config: { session: { store: 'memory', lifetime: '1h', idle_timeout: '10m' } },
  });
  t.after(() => stack.close());
  return stack;
}

function store(stack: Stack): SessionStore {
  return stack.gatehouse.gatehouse.sessions.store;
}

async function signedIn(stack: Stack, user = 'alice'): Promise<Browser> {
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), user)).status, 200);
  // Uses seen so far reach the store now, so they cannot land on top of the edits below.
  await stack.gatehouse.gatehouse.sessions.flushTouches();
  return browser;
}

async function sessionOf(stack: Stack, sub: string): Promise<SessionRecord> {
  const records = await store(stack).list({ sub });
  assert.equal(records.length, 1, `one session for ${sub}`);
  return records[0]!;
}

async function editSession(stack: Stack, change: (record: SessionRecord) => void): Promise<void> {
  const record = await sessionOf(stack, ALICE.sub);
  change(record);
  await store(stack).put(record);
}

/** A navigation gets a login at the provider and an API request 401; the application sees neither. */
async function assertSignedOut(stack: Stack, browser: Browser, what: string): Promise<void> {
  const seen = stack.whoami.requests.length;
  const api = await browser.request(stack.appUrl('/api/data'), { headers: API });
  const page = await browser.request(stack.appUrl('/'));

  assert.equal(api.status, 401, `${what}: API request`);
  assert.equal(page.status, 302, `${what}: navigation`);
  assert.ok(page.headers.location?.startsWith(stack.provider.issuer), page.headers.location);
  assert.equal(stack.whoami.requests.length, seen, `${what}: the application received nothing`);
}

function assertAlice(stack: Stack, response: BrowserResponse, what: string): void {
  assert.equal(response.status, 200, `${what}: ${response.body}`);
  assert.equal(stack.whoami.requests.at(-1)!.headers['x-authentik-username'], 'alice', what);
}

test('a session unused for longer than idle_timeout starts a login', async (t) => {
  const stack = await shortSessions(t);
  const browser = await signedIn(stack);

  await editSession(stack, (record) => {
    record.lastSeenAt = Date.now() - 11 * MINUTE;
  });

  await assertSignedOut(stack, browser, 'idle for 11 minutes');
});

test('a session used within idle_timeout stays, however old its last stored use', async (t) => {
  const stack = await shortSessions(t);
  const browser = await signedIn(stack);

  await editSession(stack, (record) => {
    record.lastSeenAt = Date.now() - 9 * MINUTE;
  });
  assertAlice(stack, await browser.request(stack.appUrl('/nine-minutes-later')), 'idle for 9');
  // The use just made is in memory only; the stored time alone would say eleven minutes.
  await editSession(stack, (record) => {
    record.lastSeenAt = Date.now() - 11 * MINUTE;
  });

  assertAlice(stack, await browser.request(stack.appUrl('/still-in-use')), 'used a moment ago');
});

test('a session past its lifetime starts a login, however recently it was used', async (t) => {
  const stack = await shortSessions(t);
  const browser = await signedIn(stack);
  const record = await sessionOf(stack, ALICE.sub);
  assert.equal(record.expiresAt - record.createdAt, 60 * MINUTE, 'lifetime is 1h from sign-in');

  await editSession(stack, (record) => {
    record.createdAt = Date.now() - 61 * MINUTE;
    record.expiresAt = Date.now() - MINUTE;
    record.lastSeenAt = Date.now();
  });

  await assertSignedOut(stack, browser, 'a minute past its lifetime');
});

test('requests move the idle clock without a store write; a flush writes one batch', async (t) => {
  const stack = await shortSessions(t);
  const alice = await signedIn(stack);
  const bob = await signedIn(stack, 'bob');
  const counted = countingWrites(store(stack));
  // A second Gatehouse on the same store, whose every store call goes through the counter.
  const replica = await startGatehouse(
    { ...stack.config, listen: '127.0.0.1:0' },
    { log: createLogger('silent'), store: counted.store },
  );
  t.after(() => replica.close());
  const [aliceBefore, bobBefore] = [
    await sessionOf(stack, ALICE.sub),
    await sessionOf(stack, BOB.sub),
  ];

  for (let i = 0; i < 25; i++) {
    for (const browser of [alice, bob]) {
      const page = await via(stack, replica, browser, `/page/${i}`);
      assert.equal(page.status, 200);
    }
  }

  assert.equal(counted.puts, 0, 'no record written');
  assert.equal(counted.touches.length, 0, 'no use written yet');

  await replica.gatehouse.sessions.flushTouches();

  assert.equal(counted.touches.length, 1, 'one batch');
  assert.deepEqual(
    counted.touches[0]!.map((entry) => entry.key).sort(),
    [aliceBefore.key, bobBefore.key].sort(),
  );
  assert.ok((await sessionOf(stack, ALICE.sub)).lastSeenAt > aliceBefore.lastSeenAt);
  assert.ok((await sessionOf(stack, BOB.sub)).lastSeenAt > bobBefore.lastSeenAt);
  assert.equal(counted.puts, 0, 'the flush wrote no record');
});

/** One request to `replica` for the application, with the browser's cookies for it. */
function via(stack: Stack, replica: Running, browser: Browser, path: string) {
  return browser.request(`${replica.url}${path}`, {
    headers: { host: new URL(stack.origin).host, cookie: browser.cookieHeader(stack.origin) },
  });
}

/** `store`, with every write counted on the way through. */
function countingWrites(inner: SessionStore) {
  const counted = { puts: 0, touches: [] as SessionTouch[][], store: inner };
  counted.store = {
    kind: inner.kind,
    get: (key) => inner.get(key),
    put: (record) => {
      counted.puts++;
      return inner.put(record);
    },
    update: (record) => {
      counted.puts++;
      return inner.update(record);
    },
    delete: (key) => inner.delete(key),
    list: (selector) => inner.list(selector),
    deleteWhere: (selector) => inner.deleteWhere(selector),
    touch: (entries) => {
      counted.touches.push(entries);
      return inner.touch(entries);
    },
    count: () => inner.count(),
    claimOnce: (id, ttlMs) => inner.claimOnce(id, ttlMs),
    forgetClaim: (id) => inner.forgetClaim(id),
    acquireLock: (name, ttlMs) => inner.acquireLock(name, ttlMs),
    releaseLock: (name, token) => inner.releaseLock(name, token),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return counted;
}
