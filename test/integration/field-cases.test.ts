/**
 * The field cases of forward-auth proxies (F1 to F10), each as the request sequence that broke
 * other proxies, against the in-process provider. The full flavour-by-cookie matrix of F1 and
 * F2 is in forward-auth-matrix.test.ts.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';

import { ALICE } from '../../src/demo/users.ts';
import { seal, unseal } from '../../src/oidc/seal.ts';
import { deriveKeys } from '../../src/session/keys.ts';
import { Browser, type Navigation, type RequestOptions } from '../support/browser.ts';
import {
  assertLoginChallenge,
  deploy,
  FLAVOURS,
  stableIdentity,
  type Deployment,
  type FlavourName,
} from '../support/deployments.ts';
import { BROKEN_COOKIES, plantCookie } from '../support/forged-sessions.ts';
import { PREFIX, SECRET, startStack, type Stack } from '../support/stack.ts';

const FLOW_KEY = deriveKeys(SECRET).flowEncryption;

type SealedState = { f: string; app: string; r: string; a: number; t: number };

/** The return URL and attempt sealed in an authorization request's `state`, if it is one. */
function stateOf(location: string | undefined, stack: Stack): SealedState | undefined {
  if (!location) return undefined;
  const url = new URL(location, stack.origin);
  const state = url.searchParams.get('state');
  if (url.origin !== stack.provider.issuer || !state) return undefined;
  return unseal<SealedState>(FLOW_KEY, 'state', state);
}

function callbackHops(navigation: Navigation, stack: Stack) {
  return navigation.hops.filter((hop) => hop.url.startsWith(`${stack.origin}${PREFIX}/callback`));
}

/** A browser without any default headers: each request says what kind of client it is. */
function plainClient(): Browser {
  return new Browser({ headers: {} });
}

test('F1: a session purged behind a valid cookie starts a fresh login, and the same identity returns', async (t) => {
  const deployment = await deploy('traefik');
  t.after(() => deployment.close());
  const browser = deployment.stack.browser();
  const identity = await deployment.signIn(browser, 'alice', '/dashboard');
  await deployment.stack.gatehouse.gatehouse.sessions.store.deleteWhere({ sub: ALICE.sub });
  const before = deployment.appRequests();

  const answer = await deployment.open(browser, '/dashboard');

  assertLoginChallenge(deployment, answer, '/dashboard');
  assert.equal(deployment.appRequests(), before);
  const again = await deployment.signIn(browser, 'alice', '/dashboard');
  assert.deepEqual(stableIdentity(again), stableIdentity(identity));
});

test('F2: no broken session cookie ever gets a 2xx (every flavour is covered by the matrix)', async (t) => {
  const deployment = await deploy('proxy');
  t.after(() => deployment.close());
  const browser = deployment.stack.browser();
  await deployment.signIn(browser, 'alice', '/dashboard/x');
  const valid = browser.getCookie(deployment.cookieName, deployment.stack.appUrl('/'))!.value;
  const store = deployment.stack.gatehouse.gatehouse.sessions.store;

  for (const broken of BROKEN_COOKIES) {
    const values = await broken.values({ valid, store });
    const probe = deployment.stack.browser();
    plantCookie(probe, deployment.stack.appUrl('/dashboard/x'), deployment.cookieName, values);

    const answer = await deployment.open(probe, '/dashboard/x');

    assert.equal(answer.status, 302, `${broken.name}: ${answer.status}`);
    assert.equal(answer.reachedApp, 0, `${broken.name} reached the application`);
  }
});

for (const store of ['memory', 'sqlite'] as const) {
  test(`F4: a restart (${store} store) while the user is at the provider still lands on the original URL`, async (t) => {
    const stack = await startStack({ mode: 'proxy', store });
    t.after(() => stack.close());
    const browser = stack.browser();
    const target = stack.appUrl('/reports/2024?sort=desc');
    const challenge = await browser.request(target);
    assert.equal(challenge.status, 302);

    await stack.restart();
    const landed = await browser.login(String(challenge.headers.location), 'alice');

    assert.equal(landed.url, target);
    assert.equal(landed.status, 200, landed.body);
    assert.equal(stack.whoami.requests.at(-1)?.headers['x-authentik-username'], 'alice');
  });
}

test('F4: a callback whose flow cookie is gone starts a fresh login that returns to the original URL', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const target = stack.appUrl('/reports/2024?sort=desc');
  const challenge = await browser.request(target);
  for (const cookie of browser.cookies())
    if (cookie.name.startsWith('gatehouse_flow_')) browser.deleteCookie(cookie.name);

  const landed = await browser.login(String(challenge.headers.location), 'alice');

  assert.equal(landed.url, target);
  assert.equal(landed.status, 200, landed.body);
  assert.equal(callbackHops(landed, stack).length, 2, 'one fresh login after the unknown flow');
  assert.equal(landed.hops.at(-1)?.status, 200);
});

test('F4: a callback whose flow cookie expired starts a fresh login that returns to the original URL', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const target = stack.appUrl('/reports/2024?sort=desc');
  const challenge = await browser.request(target);
  const flowCookie = browser.cookies().find((cookie) => cookie.name.startsWith('gatehouse_flow_'))!;
  const flow = unseal<{ t: number }>(FLOW_KEY, 'flow', flowCookie.value)!;
  const elevenMinutesAgo = Date.now() - 11 * 60_000;
  browser.setCookie(
    flowCookie.name,
    seal(FLOW_KEY, 'flow', { ...flow, t: elevenMinutesAgo }),
    stack.origin,
    { path: '/', httpOnly: true },
  );

  const landed = await browser.login(String(challenge.headers.location), 'alice');

  assert.equal(landed.url, target);
  assert.equal(landed.status, 200, landed.body);
  assert.equal(callbackHops(landed, stack).length, 2);
});

test('F4: a bookmarked callback with a state Gatehouse never issued starts a fresh login to the root', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();

  const landed = await browser.login(
    `${stack.origin}${PREFIX}/callback?code=stale-code&state=not-a-state-from-here`,
    'alice',
  );

  assert.equal(landed.url, stack.appUrl('/'));
  assert.equal(landed.status, 200, landed.body);
});

test('F4: a signed-in user who reopens a used callback URL is sent on to its target', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const target = stack.appUrl('/reports/2024?sort=desc');
  const first = await browser.login(target, 'alice');
  const callback = callbackHops(first, stack)[0]!.url;

  const again = await browser.request(callback);

  assert.equal(again.status, 302, again.body);
  assert.equal(again.headers.location, target);
});

test('F4: a signed-in user whose browser replays the callback with its flow cookie is sent on to its target', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const target = stack.appUrl('/reports/2024?sort=desc');
  const challenge = await browser.request(target);
  const flowCookie = browser.cookies().find((cookie) => cookie.name.startsWith('gatehouse_flow_'))!;
  const first = await browser.login(String(challenge.headers.location), 'alice');
  assert.equal(first.url, target);
  const callback = callbackHops(first, stack)[0]!.url;
  // A second tab, or a double-clicked link, still sends the flow cookie with the used code.
  browser.setCookie(flowCookie.name, flowCookie.value, stack.origin, { path: '/', httpOnly: true });

  const again = await browser.request(callback);

  assert.equal(again.status, 302, again.body);
  assert.equal(again.headers.location, target);
});

test('F5: twenty rounds of sign in, sign out, sign in in one browser each land on the app at the first attempt', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  const browser = stack.browser();
  const target = stack.appUrl('/home');

  for (let round = 1; round <= 20; round += 1) {
    const landed = await browser.login(target, 'alice');
    assert.equal(landed.url, target, `round ${round}: ${landed.hops.map((h) => h.url).join(' ')}`);
    assert.equal(landed.status, 200, `round ${round}`);
    assert.equal(callbackHops(landed, stack).length, 1, `round ${round}: more than one callback`);
    assert.ok(
      landed.hops.some((hop) => hop.method === 'POST' && hop.url.startsWith(stack.provider.issuer)),
      `round ${round}: the provider asked for the password (its session had ended)`,
    );
    assert.equal(stack.whoami.requests.at(-1)?.headers['x-authentik-username'], 'alice');

    const out = await browser.navigate(`${stack.origin}${PREFIX}/sign_out`, { submitForms: true });

    assert.ok(
      out.hops.some((hop) => hop.url.startsWith(stack.provider.issuer) && /end/.test(hop.url)),
      `round ${round}: sign-out did not pass the provider's end-session page`,
    );
    const after = await browser.request(target);
    assert.equal(after.status, 302, `round ${round}: still signed in after sign-out`);
  }
});

/** A browser that loses Gatehouse's cookies as soon as they are set (blocked, wrong domain...). */
class CookieDroppingBrowser extends Browser {
  readonly #drops: (name: string) => boolean;

  constructor(drops: (name: string) => boolean) {
    super();
    this.#drops = drops;
  }

  override async request(url: string | URL, options: RequestOptions = {}) {
    const response = await super.request(url, options);
    for (const cookie of this.cookies())
      if (this.#drops(cookie.name)) this.deleteCookie(cookie.name);
    return response;
  }
}

const DROPPED_COOKIES = [
  { what: 'every Gatehouse cookie', drops: (name: string) => name.startsWith('gatehouse_') },
  {
    what: 'the session cookie only',
    drops: (name: string) => name.startsWith('gatehouse_session'),
  },
];

for (const { what, drops } of DROPPED_COOKIES) {
  test(`F6: a browser that drops ${what} gets an explanatory page within two round trips, and the return URL never nests`, async (t) => {
    const stack = await startStack({ mode: 'proxy' });
    t.after(() => stack.close());
    const browser = new CookieDroppingBrowser(drops);
    const target = stack.appUrl('/inbox?folder=work');

    const landed = await browser
      .login(target, 'alice', undefined, { maxRedirects: 40 })
      .catch((error: Error) => {
        const rounds = error.message.split(`${PREFIX}/callback?`).length - 1;
        assert.fail(`the browser was bounced through ${rounds} callbacks without an error page`);
      });

    assert.ok(callbackHops(landed, stack).length <= 2, 'more than two round trips');
    assert.equal(landed.status, 400, landed.body);
    assert.match(landed.body, /cookie/i);
    for (const hop of landed.hops) {
      const state = stateOf(hop.location, stack);
      if (state) assert.equal(state.r, target, `a state returns elsewhere: ${hop.location}`);
      const rd = hop.location ? new URL(hop.location, hop.url).searchParams.get('rd') : null;
      if (rd !== null) assert.equal(rd, target, `an rd nests: ${hop.location}`);
    }
    assert.equal(stack.whoami.requests.length, 0);
  });
}

test('F6: a code exchange that always fails (the client secret is wrong) ends on an error page, not a loop', async (t) => {
  const stack = await startStack({ mode: 'proxy' });
  t.after(() => stack.close());
  stack.config.applications[0]!.oidc.client_secret = 'not-the-registered-secret';
  await stack.restart();
  const browser = stack.browser();

  const landed = await browser
    .login(stack.appUrl('/inbox'), 'alice', undefined, { maxRedirects: 40 })
    .catch((error: Error) => {
      const rounds = error.message.split(`${PREFIX}/callback?`).length - 1;
      assert.fail(`the browser was bounced through ${rounds} callbacks without an error page`);
    });

  assert.ok(callbackHops(landed, stack).length <= 2, 'more than two round trips');
  assert.ok(landed.status >= 400, `${landed.status} ${landed.body}`);
  assert.equal(stack.whoami.requests.length, 0);
});

test('F7: ten thousand anonymous requests leave the SQLite store and its files unchanged', async (t) => {
  const stack = await startStack({ mode: 'proxy', store: 'sqlite' });
  t.after(() => stack.close());
  const browser = stack.browser();
  await browser.login(stack.appUrl('/'), 'alice');
  const sessions = stack.gatehouse.gatehouse.sessions;
  await sessions.flushTouches();
  const file = stack.config.session.sqlite_path;
  const sizes = () =>
    [file, `${file}-wal`].map((path) => statSync(path, { throwIfNoEntry: false })?.size ?? 0);
  const rowsBefore = await sessions.store.count();
  const sizesBefore = sizes();

  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  t.after(() => agent.destroy());
  const port = new URL(stack.gatehouseUrl).port;
  const kinds = [
    { accept: 'text/html', 'sec-fetch-mode': 'navigate' },
    { accept: '*/*', 'user-agent': 'health-checker/1.0' },
    { accept: 'text/html', cookie: 'gatehouse_session_app=garbage' },
  ];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < 10_000) {
      const index = next++;
      const status = await get(agent, port, `/page/${index}`, {
        host: new URL(stack.origin).host,
        ...kinds[index % kinds.length],
      });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));

  assert.deepEqual([...statuses.keys()].sort(), [302, 401]);
  assert.equal(await sessions.store.count(), rowsBefore);
  assert.deepEqual(sizes(), sizesBefore);
  assert.equal(stack.whoami.requests.length, 1);
  const still = await browser.request(stack.appUrl('/after'));
  assert.equal(still.status, 200);
  assert.equal(stack.whoami.requests.at(-1)?.headers['x-authentik-username'], 'alice');
});

function get(agent: http.Agent, port: string, path: string, headers: http.OutgoingHttpHeaders) {
  return new Promise<number>((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, headers, agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
  });
}

const BACKGROUND_REQUESTS: Array<{ what: string; headers: Record<string, string> }> = [
  { what: 'fetch with Accept: application/json', headers: { accept: 'application/json' } },
  {
    what: 'an XMLHttpRequest',
    headers: { accept: 'text/html, */*; q=0.01', 'x-requested-with': 'XMLHttpRequest' },
  },
  {
    what: 'fetch with Sec-Fetch-Mode: cors',
    headers: { accept: 'text/html,*/*', 'sec-fetch-mode': 'cors' },
  },
  { what: "curl's Accept: */*", headers: { accept: '*/*', 'user-agent': 'curl/8.5.0' } },
];

for (const flavour of FLAVOURS) {
  test(`F9 (${flavour}): background requests without a session get 401 JSON naming the login URL, and start no flow`, async (t) => {
    const deployment = await deploy(flavour);
    t.after(() => deployment.close());
    const { stack } = deployment;
    const path = '/api/data?page=2';

    for (const { what, headers } of BACKGROUND_REQUESTS) {
      const answer = await deployment.open(plainClient(), path, { headers });

      assert.equal(answer.status, 401, `${what}: ${answer.status} ${answer.body}`);
      assert.equal(answer.location, undefined, `${what} got a Location`);
      assert.match(String(answer.headers['content-type']), /application\/json/, what);
      const body = JSON.parse(answer.body) as { login_url?: string };
      assert.equal(
        body.login_url,
        `${stack.origin}${PREFIX}/start?rd=${encodeURIComponent(stack.appUrl(path))}`,
        what,
      );
      assert.ok(
        !answer.setCookies.some((line) => line.startsWith('gatehouse_flow_')),
        `${what} started a login flow`,
      );
      assert.equal(answer.reachedApp, 0, `${what} reached the application`);
    }
  });
}

for (const flavour of FLAVOURS) {
  test(`F10 (${flavour}): a form post without a session reaches nothing, navigations get 303, API 401, HEAD as GET`, async (t) => {
    const deployment = await deploy(flavour);
    t.after(() => deployment.close());
    const browser = deployment.stack.browser();
    const form = new URLSearchParams({ title: 'quarterly-numbers-secret' });

    const post = await deployment.open(browser, '/items', { method: 'POST', body: form });
    const apiPost = await deployment.open(plainClient(), '/items', {
      method: 'POST',
      body: '{"title":"x"}',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
    });
    const head = await deployment.open(browser, '/items', { method: 'HEAD' });
    const apiHead = await deployment.open(plainClient(), '/items', {
      method: 'HEAD',
      headers: { accept: '*/*' },
    });

    assert.equal(deployment.appRequests(), 0, 'a request reached the application');
    if (flavour === 'nginx') {
      assert.equal(post.status, 401);
      assert.ok(post.location?.includes('/start?rd='), String(post.location));
    } else {
      assert.equal(post.status, 303, post.body);
      assert.ok(post.location?.startsWith(deployment.stack.provider.issuer), post.location);
      assert.equal(head.status, 302, head.body);
      assert.ok(head.location?.startsWith(deployment.stack.provider.issuer), head.location);
    }
    assert.ok(!post.location?.includes('quarterly'), 'the body went on to the provider');
    assert.equal(apiPost.status, 401);
    assert.equal(apiPost.location, undefined);
    assert.equal(apiHead.status, 401);

    const landed = await deployment.signIn(browser, 'alice', '/items');
    assert.equal(landed['x-authentik-username'], 'alice');
    if (flavour !== 'nginx') {
      const methods = deployment.stack.whoami.requests.map((request) => request.method);
      assert.deepEqual(methods, ['GET'], 'the post was replayed after sign-in');
    }
  });
}

const PREFLIGHT = {
  origin: 'http://spa.example.test',
  'access-control-request-method': 'POST',
  'access-control-request-headers': 'content-type',
  'sec-fetch-mode': 'cors',
  accept: '*/*',
};

function preflightDeployment(flavour: FlavourName, allow: boolean): Promise<Deployment> {
  return deploy(flavour, { app: { allow_preflight: allow } });
}

for (const flavour of FLAVOURS) {
  test(`F8 (${flavour}): a CORS preflight without a session gets 401 unless preflights are allowed`, async (t) => {
    const deployment = await preflightDeployment(flavour, false);
    t.after(() => deployment.close());

    const answer = await deployment.open(plainClient(), '/v1/items', {
      method: 'OPTIONS',
      headers: PREFLIGHT,
    });

    assert.equal(answer.status, 401, answer.body);
    assert.equal(answer.location, undefined);
    assert.equal(deployment.appRequests(), 0);
  });

  test(`F8 (${flavour}): with allow_preflight a CORS preflight passes without identity, and a bare OPTIONS does not`, async (t) => {
    const deployment = await preflightDeployment(flavour, true);
    t.after(() => deployment.close());

    const preflight = await deployment.open(plainClient(), '/v1/items', {
      method: 'OPTIONS',
      headers: { ...PREFLIGHT, 'x-authentik-username': 'mallory' },
    });
    const bare = await deployment.open(plainClient(), '/v1/items', {
      method: 'OPTIONS',
      headers: { accept: '*/*' },
    });
    const originOnly = await deployment.open(plainClient(), '/v1/items', {
      method: 'OPTIONS',
      headers: { accept: '*/*', origin: PREFLIGHT.origin },
    });
    const methodOnly = await deployment.open(plainClient(), '/v1/items', {
      method: 'OPTIONS',
      headers: { accept: '*/*', 'access-control-request-method': 'POST' },
    });

    assert.ok(preflight.status >= 200 && preflight.status < 300, String(preflight.status));
    assert.equal(preflight.reachedApp, 1);
    for (const [name, value] of Object.entries(preflight.identity!)) {
      if (name.startsWith('x-authentik-meta-')) continue;
      assert.ok(!value, `${name} carries ${value} on an exempt preflight`);
    }
    for (const [what, answer] of Object.entries({ bare, originOnly, methodOnly })) {
      assert.equal(answer.status, 401, `${what}: ${answer.status}`);
      assert.equal(answer.reachedApp, 0, `${what} reached the application`);
    }
  });
}
