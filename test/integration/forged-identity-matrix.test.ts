/**
 * Proxy mode with every header set and a custom header: whatever identity header a client sends,
 * in any letter case and with `_` for `-`, on an exempt path or signed in, the application sees
 * only Gatehouse's value (or nothing, without identity); and Gatehouse's own cookies never reach
 * it while the application's cookies do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BOB } from '../../src/demo/users.ts';
import type { RecordedRequest } from '../../src/demo/whoami.ts';
import { headerNames } from '../../src/identity/header-sets.ts';
import type { Browser } from '../support/browser.ts';
import {
  assertIdentity,
  assertNoIdentity,
  forgeHeaders,
  SPELLINGS,
  type Forged,
} from '../support/forged-identity.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SETS = ['authentik', 'oauth2-proxy', 'authelia'] as const;
const NAMES = [...headerNames([...SETS]), 'X-Team'];

/** What Gatehouse sends for bob; `null`: his access token, which is new with every sign-in. */
const BOB_HEADERS: Record<string, string | null> = {
  'X-authentik-username': 'bob',
  'X-authentik-groups': 'staff',
  'X-authentik-email': BOB.email,
  'X-authentik-name': BOB.name,
  'X-authentik-uid': BOB.sub,
  'X-authentik-jwt': null,
  'X-authentik-meta-app': 'app',
  'X-authentik-meta-provider': 'app',
  'X-authentik-meta-outpost': 'gatehouse',
  'X-Forwarded-User': BOB.sub,
  'X-Forwarded-Email': BOB.email,
  'X-Forwarded-Groups': 'staff',
  'X-Forwarded-Preferred-Username': 'bob',
  'X-Auth-Request-User': BOB.sub,
  'X-Auth-Request-Email': BOB.email,
  'X-Auth-Request-Groups': 'staff',
  'X-Auth-Request-Preferred-Username': 'bob',
  'Remote-User': 'bob',
  'Remote-Groups': 'staff',
  'Remote-Email': BOB.email,
  'Remote-Name': BOB.name,
  'X-Team': 'staff',
};

describe('proxy mode with every header set and a custom header', () => {
  let stack: Stack;
  let bob: Browser;
  let anonymous: Browser;

  before(async () => {
    stack = await startStack({
      mode: 'proxy',
      app: {
        header_sets: [...SETS],
        custom_headers: { 'X-Team': '{groups}' },
        skip_path_regex: ['^/public/'],
      },
    });
    bob = stack.browser();
    const landed = await bob.login(stack.appUrl('/private/start'), 'bob');
    assert.equal(landed.status, 200, landed.body);
    anonymous = stack.browser();
  });
  after(() => stack?.close());

  /** One request through Gatehouse; returns what the application received. */
  async function reach(
    browser: Browser,
    path: string,
    headers: Record<string, string>,
  ): Promise<RecordedRequest> {
    const before = stack.whoami.requests.length;
    const response = await browser.request(stack.appUrl(path), { headers });
    assert.equal(response.status, 200, `${path}: ${response.status} ${response.body}`);
    const reached = stack.whoami.requests.slice(before);
    assert.equal(reached.length, 1, `${path} reached the application ${reached.length} times`);
    assert.equal(reached[0]!.url, path);
    return reached[0]!;
  }

  test('the matrix covers every name of every set and the custom header', () => {
    assert.deepEqual(Object.keys(BOB_HEADERS).sort(), [...NAMES].sort());
    assert.equal(NAMES.length, 22);
  });

  for (const spelling of SPELLINGS) {
    const id = spelling.label.replace(/\W+/g, '-');

    test(`forged headers (${spelling.label}) on a skipped path reach the application empty or not at all`, async () => {
      const forged: Forged = forgeHeaders(NAMES, spelling);
      const received = await reach(anonymous, `/public/${id}`, forged.headers);
      assertNoIdentity(received, NAMES, forged);
    });

    test(`forged headers (${spelling.label}) signed in as bob are replaced by bob's identity`, async () => {
      const forged = forgeHeaders(NAMES, spelling);
      const received = await reach(bob, `/private/${id}`, forged.headers);
      assertIdentity(received, BOB_HEADERS, forged);
    });
  }

  test("Gatehouse's session, flow and sign-in marker cookies never reach the application", async () => {
    const session = bob.getCookie('gatehouse_session_app', stack.origin);
    assert.ok(session, 'bob is signed in');
    const cookie = [
      'theme=dark',
      `gatehouse_session_app=${session.value}`,
      'gatehouse_flow_abc123=forged-flow',
      'gatehouse_flow_=empty-id',
      'gatehouse_signins=3',
      'other=1',
      'gatehouse_session_app=second-copy',
    ].join('; ');

    const signedIn = await reach(bob, '/private/cookies', { cookie });
    const exempt = await reach(anonymous, '/public/cookies', { cookie });

    for (const received of [signedIn, exempt]) {
      assert.equal(received.headers.cookie, 'theme=dark; other=1', received.url);
      const raw = received.rawHeaders.join('\n');
      assert.ok(!raw.includes('gatehouse_'), `${received.url}: ${raw}`);
      assert.ok(!raw.includes(session.value), `${received.url}: the session id reached it`);
    }
    assert.equal(signedIn.headers['x-authentik-username'], 'bob');
  });

  test("only Gatehouse's cookies: the application gets no Cookie header at all", async () => {
    const session = bob.getCookie('gatehouse_session_app', stack.origin)!;
    const cookie = `gatehouse_session_app=${session.value}; gatehouse_flow_x=y; gatehouse_signins=1`;

    const received = await reach(bob, '/private/only-own-cookies', { cookie });

    assert.equal(received.headers.cookie, undefined);
    assert.equal(received.headers['x-authentik-username'], 'bob');
  });
});
