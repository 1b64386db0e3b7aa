/**
 * The README's nginx and Caddy snippets, run by the real servers in front of real Gatehouse
 * (forward_single, authentik headers): whatever authentik header a client forges, in any
 * letter case and with `_` for `-`, on a skipped path or signed in as bob, the application sees
 * only Gatehouse's value, or none without identity.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BOB } from '../../src/demo/users.ts';
import type { RecordedRequest } from '../../src/demo/whoami.ts';
import { headerNames } from '../../src/identity/header-sets.ts';
import { requireBinary } from '../support/binaries.ts';
import type { Browser } from '../support/browser.ts';
import { startBehindProxy, type ProxiedDeployment, type ReverseProxy } from '../support/e2e.ts';
import {
  assertIdentity,
  assertNoIdentity,
  forgeHeaders,
  SPELLINGS,
} from '../support/forged-identity.ts';

const binaries = { nginx: requireBinary('nginx'), caddy: requireBinary('caddy') };

const NAMES = headerNames(['authentik']);

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
};

for (const proxy of ['nginx', 'caddy'] as const satisfies readonly ReverseProxy[]) {
  describe(
    `${proxy} in front of Gatehouse, with forged identity headers`,
    {
      skip: binaries[proxy].skip,
    },
    () => {
      let deployment: ProxiedDeployment;
      let bob: Browser;
      let anonymous: Browser;

      before(async () => {
        deployment = await startBehindProxy(proxy, { app: { skip_path_regex: ['^/public/'] } });
        bob = deployment.stack.browser();
        const landed = await bob.login(deployment.url('/private/start'), 'bob');
        assert.equal(landed.status, 200, `${landed.body}\n${deployment.logs()}`);
        anonymous = deployment.stack.browser();
      });
      after(() => deployment?.close());

      /** One request through the reverse proxy; returns what the application received. */
      async function reach(
        browser: Browser,
        path: string,
        headers: Record<string, string>,
      ): Promise<RecordedRequest> {
        const requests = deployment.stack.whoami.requests;
        const before = requests.length;
        const response = await browser.request(deployment.url(path), { headers });
        assert.equal(response.status, 200, `${path}: ${response.body}\n${deployment.logs()}`);
        const reached = requests.slice(before);
        assert.equal(reached.length, 1, `${path} reached the application ${reached.length} times`);
        assert.equal(reached[0]!.url, path);
        return reached[0]!;
      }

      test('the matrix covers every authentik header', () => {
        assert.deepEqual(Object.keys(BOB_HEADERS), NAMES);
      });

      for (const spelling of SPELLINGS) {
        const id = spelling.label.replace(/\W+/g, '-');

        test(`forged headers (${spelling.label}) on a skipped path reach the application empty or not at all`, async () => {
          const forged = forgeHeaders(NAMES, spelling);
          const received = await reach(anonymous, `/public/${id}`, forged.headers);
          assertNoIdentity(received, NAMES, forged);
        });

        test(`forged headers (${spelling.label}) signed in as bob are replaced by bob's identity`, async () => {
          const forged = forgeHeaders(NAMES, spelling);
          const received = await reach(bob, `/private/${id}`, forged.headers);
          assertIdentity(received, BOB_HEADERS, forged);
        });
      }
    },
  );
}
