/**
 * Every endpoint that takes a return target checks it with the one validator: `/start`, the
 * callback (through the target sealed into `state` at `/start`), `/sign_out` and the nginx
 * flavour's `Location`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { HOSTILE_TARGETS } from '../support/hostile-targets.ts';
import { rawRequest } from '../support/raw-request.ts';
import { untilCallback } from '../support/sign-in-steps.ts';
import { PREFIX, startStack, type Stack } from '../support/stack.ts';
import type { Browser } from '../support/browser.ts';

/** Targets that mention the test application's own host, on top of the general table. */
function hostileFor(stack: Stack): string[] {
  const { host, hostname, port } = new URL(stack.origin);
  return [
    ...HOSTILE_TARGETS,
    `${stack.origin}@evil.example/`,
    `http://user:pw@${host}/`,
    `http://${hostname}:${Number(port) + 1}/`,
    `https://${host}/`,
    `http://${hostname}.evil.example:${port}/`,
    `http://evil-${hostname}:${port}/`,
    `${stack.origin}${PREFIX}/start?rd=/x`,
    `${stack.origin}${PREFIX.toUpperCase()}/sign_out`,
  ];
}

describe('return targets at each endpoint', () => {
  let stack: Stack;
  let signedIn: Browser;
  let root: string;
  before(async () => {
    stack = await startStack({ mode: 'proxy' });
    root = `${stack.origin}/`;
    signedIn = stack.browser();
    const landed = await signedIn.login(stack.appUrl('/'), 'alice');
    assert.equal(landed.status, 200);
  });
  after(() => stack.close());

  test('/start sends a signed-in browser to the application root for every hostile rd', async () => {
    for (const target of hostileFor(stack)) {
      const answer = await signedIn.request(
        `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent(target)}`,
      );
      assert.equal(answer.status, 302, target);
      assert.equal(answer.headers.location, root, target);
    }
  });

  test('/start keeps a good rd', async () => {
    const answer = await signedIn.request(
      `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent('/reports?year=2024')}`,
    );
    assert.equal(answer.headers.location, stack.appUrl('/reports?year=2024'));
  });

  test('the callback lands on the target sealed at /start, never on one from its own query', async () => {
    const hostile = [
      '//evil.example/',
      '/%5Cevil.example',
      'https://evil.example/',
      `${PREFIX}/sign_out`,
    ];
    for (const target of hostile) {
      const browser = stack.browser();
      const start = `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent(target)}`;
      const callback = await untilCallback(browser, start, stack.origin);
      callback.searchParams.set('rd', 'https://evil.example/');
      const answer = await browser.request(callback);
      assert.equal(answer.status, 302, target);
      assert.equal(answer.headers.location, root, target);
    }

    const browser = stack.browser();
    const start = `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent('/kept?a=1')}`;
    const callback = await untilCallback(browser, start, stack.origin);
    callback.searchParams.set('rd', 'https://evil.example/');
    const answer = await browser.request(callback);
    assert.equal(answer.headers.location, stack.appUrl('/kept?a=1'));
  });

  test('/sign_out without a provider hand-off lands on a checked rd', async () => {
    for (const target of hostileFor(stack)) {
      const answer = await stack
        .browser()
        .request(`${stack.origin}${PREFIX}/sign_out?rd=${encodeURIComponent(target)}`);
      assert.equal(answer.status, 302, target);
      assert.equal(answer.headers.location, root, target);
    }
    const good = await stack
      .browser()
      .request(`${stack.origin}${PREFIX}/sign_out?rd=${encodeURIComponent('/bye')}`);
    assert.equal(good.headers.location, stack.appUrl('/bye'));
    const none = await stack.browser().request(`${stack.origin}${PREFIX}/sign_out`);
    assert.equal(none.status, 200, 'without rd, the signed-out page');
  });

  test("the nginx flavour's Location names only a checked target", async () => {
    const { host } = new URL(stack.origin);
    const paths = [
      '/ok?x=1',
      `${PREFIX}/start?rd=https://evil.example/`,
      `${PREFIX.toUpperCase()}/callback`,
      '/%5Cevil.example',
      '/x/..;/y',
      '//evil.example/',
    ];
    for (const path of paths) {
      const answer = await rawRequest(`${stack.gatehouseUrl}${PREFIX}/auth/nginx`, {
        headers: {
          'x-original-url': `http://${host}${path}`,
          accept: 'text/html',
        },
      });
      if (answer.status === 400) continue;
      assert.equal(answer.status, 401, path);
      const location = new URL(answer.headers.location!);
      assert.equal(location.origin, stack.origin);
      assert.equal(location.pathname, `${PREFIX}/start`);
      const rd = new URL(location.searchParams.get('rd')!);
      assert.equal(rd.origin, stack.origin, path);
      assert.ok(!rd.pathname.toLowerCase().startsWith(PREFIX), path);
    }
  });
});
