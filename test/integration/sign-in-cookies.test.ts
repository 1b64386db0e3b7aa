/**
 * Login flows and their cookies: several sign-ins open in one browser each land on their own
 * URL whatever order they finish in; every cookie Gatehouse sets fits a browser's 4096-byte
 * limit; a flow cookie lives for minutes and is removed by its callback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sessionCookieSpec } from '../../src/session/session-cookie.ts';
import { untilCallback } from '../support/sign-in-steps.ts';
import { startStack } from '../support/stack.ts';

function shuffled<T>(items: T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let index = copy.length - 1; index > 0; index--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const other = state % (index + 1);
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

test('ten sign-ins started in one browser and finished in shuffled order each land on their own URL', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const setCookies: string[] = [];

  const pending: Array<{ target: string; callback: URL }> = [];
  for (let index = 0; index < 10; index++) {
    const target = stack.appUrl(`/tab/${index}?q=${index}`);
    const callback = await untilCallback(browser, target, stack.origin);
    pending.push({ target, callback });
  }
  const open = browser
    .cookies(stack.appUrl('/'))
    .filter((c) => c.name.startsWith('gatehouse_flow_'));
  assert.equal(open.length, 10, 'all ten flows are open at once');
  assert.ok(browser.cookieHeader(stack.appUrl('/')).length < 8192, 'ten flows fit in a request');

  for (const { target, callback } of shuffled(pending, 7)) {
    const answer = await browser.request(callback);
    setCookies.push(...(answer.headers['set-cookie'] ?? []));
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.location, target);
    const flowId = /^gatehouse_flow_[^=]+/.exec(
      (answer.headers['set-cookie'] ?? []).find((line) => line.startsWith('gatehouse_flow_')) ?? '',
    )?.[0];
    assert.ok(flowId, 'the callback clears its flow cookie');
    assert.match(
      answer.headers['set-cookie']!.find((line) => line.startsWith(`${flowId}=`))!,
      /^[^=]+=; .*Max-Age=0/,
    );
  }
  const left = browser
    .cookies(stack.appUrl('/'))
    .filter((c) => c.name.startsWith('gatehouse_flow_'));
  assert.equal(left.length, 0, 'every flow cookie is gone after its callback');

  for (const line of setCookies) assert.ok(Buffer.byteLength(line) < 4096, line.slice(0, 80));
});

test('a flow cookie expires within minutes, and no Set-Cookie of a sign-in reaches 4096 bytes', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();

  const first = await browser.request(stack.appUrl('/'));
  assert.equal(first.status, 302);
  const flow = (first.headers['set-cookie'] ?? []).find((line) =>
    line.startsWith('gatehouse_flow_'),
  );
  assert.ok(flow);
  const maxAge = Number(/Max-Age=(\d+)/.exec(flow)?.[1]);
  assert.ok(maxAge > 0 && maxAge <= 15 * 60, `Max-Age=${maxAge}`);
  assert.match(flow, /HttpOnly/);

  const landed = await browser.login(stack.appUrl('/'), 'alice');
  assert.equal(landed.status, 200);
  const session = browser.getCookie('gatehouse_session_app', stack.appUrl('/'));
  assert.ok(session);
  assert.ok(Buffer.byteLength(`${session.name}=${session.value}`) < 4096);
  for (const line of first.headers['set-cookie'] ?? []) assert.ok(Buffer.byteLength(line) < 4096);
});

test('the session cookie has the __Host- prefix on https without a Domain, and only then', () => {
  const https = sessionCookieSpec({ name: 'a', external_host: 'https://a.example.com' });
  assert.equal(https.name, '__Host-gatehouse_session_a');
  assert.equal(https.attributes.domain, undefined);
  assert.equal(https.attributes.path, '/');
  assert.equal(https.attributes.secure, true);

  const domain = sessionCookieSpec({
    name: 'a',
    external_host: 'https://a.example.com',
    cookie_domain: 'example.com',
  });
  assert.equal(domain.name, 'gatehouse_session_a');
  assert.equal(domain.attributes.domain, 'example.com');

  const http = sessionCookieSpec({ name: 'a', external_host: 'http://a.localhost:9000' });
  assert.equal(http.name, 'gatehouse_session_a');
  assert.equal(http.attributes.secure, false);
});
