/**
 * The never-fail-open rule across every way Gatehouse is deployed: a request whose session is
 * missing, gone or forged gets the flavour's login challenge and reaches no application, and
 * signing in again brings back the same identity.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ALICE } from '../../src/demo/users.ts';
import type { Browser } from '../support/browser.ts';
import {
  assertLoginChallenge,
  clearsCookie,
  deploy,
  FLAVOURS,
  stableIdentity,
  type Deployment,
  type IdentitySeen,
} from '../support/deployments.ts';
import { BROKEN_COOKIES, plantCookie } from '../support/forged-sessions.ts';

const PATH = '/private/page?item=7';

for (const flavour of FLAVOURS) {
  describe(`${flavour}`, () => {
    let deployment: Deployment;
    before(async () => {
      deployment = await deploy(flavour);
    });
    after(() => deployment.close());

    /** A browser signed in as alice, with what the application received then. */
    async function signedIn(): Promise<{
      browser: Browser;
      identity: IdentitySeen;
      cookie: string;
    }> {
      const browser = deployment.stack.browser();
      const identity = await deployment.signIn(browser, 'alice', PATH);
      const cookie = browser.getCookie(deployment.cookieName, deployment.stack.appUrl(PATH));
      assert.ok(cookie?.value, 'sign-in set the session cookie');
      return { browser, identity, cookie: cookie.value };
    }

    /** Asserts a login challenge that reaches nothing, then that a new sign-in restores the identity. */
    async function assertChallengeThenSameIdentity(browser: Browser, identity: IdentitySeen) {
      const before = deployment.appRequests();
      const answer = await deployment.open(browser, PATH);
      assertLoginChallenge(deployment, answer, PATH);
      assert.equal(deployment.appRequests(), before, 'the application received a request');

      const again = await deployment.signIn(browser, 'alice', PATH);
      assert.deepEqual(stableIdentity(again), stableIdentity(identity));
      return answer;
    }

    test(`${flavour}: a signed-in request is allowed and the application sees the identity headers`, async () => {
      const { browser, identity } = await signedIn();

      const answer = await deployment.open(browser, PATH);

      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.reachedApp, 1);
      assert.deepEqual(stableIdentity(answer.identity!), {
        'x-authentik-username': 'alice',
        'x-authentik-groups': 'admins|staff',
        'x-authentik-email': 'alice@example.com',
        'x-authentik-name': 'Alice Example',
        'x-authentik-uid': ALICE.sub,
        'x-authentik-meta-app': 'app',
        'x-authentik-meta-provider': 'app',
        'x-authentik-meta-outpost': 'gatehouse',
      });
      assert.deepEqual(stableIdentity(answer.identity!), stableIdentity(identity));
    });

    test(`${flavour}: a request without a cookie gets a login challenge and reaches nothing`, async () => {
      const browser = deployment.stack.browser();
      const before = deployment.appRequests();

      const answer = await deployment.open(browser, PATH);

      assertLoginChallenge(deployment, answer, PATH);
      assert.equal(deployment.appRequests(), before);
      assert.equal(clearsCookie(answer.setCookies, deployment.cookieName), false);
    });

    test(`${flavour}: a session deleted from the store gets a login challenge, never a 2xx`, async () => {
      const { browser, identity } = await signedIn();
      const store = deployment.stack.gatehouse.gatehouse.sessions.store;
      assert.ok((await store.deleteWhere({ sub: ALICE.sub })) >= 1);

      const answer = await assertChallengeThenSameIdentity(browser, identity);

      assert.ok(
        clearsCookie(answer.setCookies, deployment.cookieName),
        `the stale cookie is cleared: ${answer.setCookies.join(' | ')}`,
      );
    });

    test(`${flavour}: after a restart on the memory store the old cookie gets a login challenge`, async () => {
      const { browser, identity } = await signedIn();

      await deployment.stack.restart();

      await assertChallengeThenSameIdentity(browser, identity);
    });

    for (const broken of BROKEN_COOKIES) {
      test(`${flavour}: ${broken.name} as the session cookie gets a login challenge`, async () => {
        const { browser, identity, cookie } = await signedIn();
        const store = deployment.stack.gatehouse.gatehouse.sessions.store;
        const values = await broken.values({ valid: cookie, store });
        plantCookie(browser, deployment.stack.appUrl(PATH), deployment.cookieName, values);

        await assertChallengeThenSameIdentity(browser, identity);
      });
    }

    for (const order of ['bad then good', 'good then bad'] as const) {
      test(`${flavour}: the cookie name twice, ${order}, is allowed with the good one's identity`, async () => {
        const { browser, identity, cookie } = await signedIn();
        const values = order === 'bad then good' ? [cookie.slice(0, -3), cookie] : [cookie, ''];
        plantCookie(browser, deployment.stack.appUrl(PATH), deployment.cookieName, values);

        const answer = await deployment.open(browser, PATH);

        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.reachedApp, 1);
        assert.deepEqual(stableIdentity(answer.identity!), stableIdentity(identity));
      });
    }
  });
}
