import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startStack } from '../support/stack.ts';

test('with the sqlite store a session survives a restart: the same cookie works without a new login', async (t) => {
  const stack = await startStack({ mode: 'proxy', store: 'sqlite' });
  t.after(() => stack.close());
  const browser = stack.browser();
  await browser.login(stack.appUrl('/'), 'alice');
  const cookieBefore = browser.cookieHeader(stack.appUrl('/'));
  const tokenRequests = stack.provider.counters.tokenRequests;

  await stack.restart();
  const after = await browser.navigate(stack.appUrl('/after-restart'));

  assert.equal(after.status, 200, after.body);
  assert.equal(after.hops.length, 1, `redirected: ${after.hops.map((hop) => hop.url).join(' ')}`);
  assert.equal(stack.whoami.requests.at(-1)?.headers['x-authentik-username'], 'alice');
  assert.equal(stack.provider.counters.tokenRequests, tokenRequests, 'a new login happened');
  assert.equal(browser.cookieHeader(stack.appUrl('/')), cookieBefore, 'the cookie changed');
});
