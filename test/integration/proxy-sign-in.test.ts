import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startStack } from '../support/stack.ts';

test('proxy mode: a person signs in and the application sees their identity headers', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();

  const result = await browser.login(stack.appUrl('/hello?x=1'), 'alice');

  assert.equal(result.status, 200, result.body);
  assert.equal(result.url, stack.appUrl('/hello?x=1'));
  const seen = stack.whoami.requests.at(-1)!;
  assert.equal(seen.headers['x-authentik-username'], 'alice');
  assert.equal(seen.headers['x-authentik-groups'], 'admins|staff');
  assert.equal(seen.headers['x-authentik-email'], 'alice@example.com');
  assert.equal(stack.whoami.requests.length, 1);
});
