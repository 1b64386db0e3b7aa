import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALICE } from '../../src/demo/users.ts';
import { startGatehouse } from '../../src/cli.ts';
import { createLogger } from '../../src/log.ts';
import type { SessionRecord } from '../../src/session/record.ts';
import { startStack, type Stack } from '../support/stack.ts';

async function aliceSession(stack: Stack): Promise<SessionRecord> {
  const records = await stack.gatehouse.gatehouse.sessions.store.list({ sub: ALICE.sub });
  assert.equal(records.length, 1, 'one session for alice');
  return records[0]!;
}

/** An access token obtained an hour ago that expires in a second. */
function dueForRefresh(record: SessionRecord): void {
  record.accessTokenIssuedAt = Date.now() - 3_600_000;
  record.accessTokenExpiresAt = Date.now() + 1000;
}

async function editSession(stack: Stack, change: (record: SessionRecord) => void): Promise<void> {
  const record = await aliceSession(stack);
  change(record);
  await stack.gatehouse.gatehouse.sessions.store.put(record);
}

test('twenty parallel requests at refresh time make one refresh and all succeed (F11)', async (t) => {
  const stack = await startStack({ provider: { rotateRefreshToken: true } });
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  await editSession(stack, dueForRefresh);
  const refreshesBefore = stack.provider.counters.refreshGrants;

  const results = await Promise.all(
    Array.from({ length: 20 }, (_, index) => browser.request(stack.appUrl(`/dashboard/${index}`))),
  );

  assert.deepEqual(
    results.map((result) => result.status),
    Array(20).fill(200),
  );
  assert.equal(stack.provider.counters.refreshGrants - refreshesBefore, 1);
  const after = await aliceSession(stack);
  assert.ok(after.accessTokenExpiresAt! > Date.now() + 60_000, 'the new access token is stored');
});

test('two Gatehouse instances sharing a store refresh a session once', async (t) => {
  const stack = await startStack({ provider: { rotateRefreshToken: true } });
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  const second = await startGatehouse(
    { ...stack.config, listen: '127.0.0.1:0' },
    { log: createLogger('silent'), store: stack.gatehouse.gatehouse.sessions.store },
  );
  t.after(() => second.close());
  await editSession(stack, dueForRefresh);
  const refreshesBefore = stack.provider.counters.refreshGrants;

  const viaSecond = (index: number) =>
    browser.request(`${second.url}/both/${index}`, {
      headers: { host: new URL(stack.origin).host, cookie: browser.cookieHeader(stack.origin) },
    });
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, index) =>
      index % 2 ? browser.request(stack.appUrl(`/both/${index}`)) : viaSecond(index),
    ),
  );

  assert.deepEqual(
    results.map((result) => result.status),
    Array(10).fill(200),
  );
  assert.equal(stack.provider.counters.refreshGrants - refreshesBefore, 1);
});

test('a refresh the provider refuses ends the session: login for navigations, 401 for APIs', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  const seen = stack.whoami.requests.length;
  await stack.provider.disableUser(ALICE.sub);
  await editSession(stack, dueForRefresh);

  const api = await browser.request(stack.appUrl('/api'), {
    headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' },
  });
  const page = await browser.request(stack.appUrl('/'));

  assert.equal(api.status, 401);
  assert.equal(page.status, 302);
  assert.ok(page.headers.location?.startsWith(stack.provider.issuer));
  assert.equal(stack.whoami.requests.length, seen);
});

test('a group removed at the provider is gone after the revalidation interval', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  assert.equal(stack.whoami.requests.at(-1)!.headers['x-authentik-groups'], 'admins|staff');

  stack.provider.setUserGroups(ALICE.sub, ['staff']);
  await browser.request(stack.appUrl('/soon'));
  assert.equal(
    stack.whoami.requests.at(-1)!.headers['x-authentik-groups'],
    'admins|staff',
    'not yet due',
  );
  await editSession(stack, (record) => {
    record.validatedAt = Date.now() - stack.config.session.revalidate_interval - 1;
  });
  await browser.request(stack.appUrl('/later'));

  assert.equal(stack.whoami.requests.at(-1)!.headers['x-authentik-groups'], 'staff');
});

test('a provider that is down during a refresh keeps the still-valid session', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  await editSession(stack, dueForRefresh);
  await stack.provider.close();

  const result = await browser.request(stack.appUrl('/still-here'));

  assert.equal(result.status, 200);
  assert.equal(stack.whoami.requests.at(-1)!.headers['x-authentik-username'], 'alice');
});

test('a renewal that finishes after a sign-out does not bring the session back', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  await editSession(stack, dueForRefresh);
  const store = stack.gatehouse.gatehouse.sessions.store;
  // The provider answers the refresh only after the session has been deleted.
  const provider = stack.provider.provider as {
    use(fn: (ctx: unknown, next: () => Promise<void>) => Promise<void>): void;
  };
  provider.use(async (ctx, next) => {
    if ((ctx as { path: string }).path.endsWith('/token'))
      await store.deleteWhere({ sub: ALICE.sub });
    await next();
  });

  const during = await browser.request(stack.appUrl('/racing'));
  const after = await browser.request(stack.appUrl('/after'));

  assert.notEqual(during.status, 200);
  assert.equal(after.status, 302, 'the next request starts a login');
  assert.deepEqual(await store.list({ sub: ALICE.sub }), []);
});
