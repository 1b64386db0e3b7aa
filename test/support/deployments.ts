/**
 * Gatehouse deployed each way a test must cover, behind one interface: proxy mode, the Traefik
 * and Envoy stand-ins in front of forward auth, and the nginx endpoint asked directly, the way
 * nginx's `auth_request` subrequest asks it (a body-less GET with X-Original-URL and the
 * browser's headers). A test opens a path on the application and sees what the browser would
 * see and what the application would receive.
 *
 * @example
 * ```ts
 * const deployment = await deploy('traefik');
 * t.after(() => deployment.close());
 * const browser = deployment.stack.browser();
 * const identity = await deployment.signIn(browser, 'alice', '/private');
 * const exchange = await deployment.open(browser, '/private');
 * assert.equal(exchange.identity?.['x-authentik-username'], 'alice');
 * ```
 *
 * @module
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';

import type { Browser, RequestOptions } from './browser.ts';
import { startFrontend, type Frontend } from './forward-frontends.ts';
import { freePort } from './ports.ts';
import { PREFIX, startStack, type Stack, type StackOptions } from './stack.ts';

export type FlavourName = 'proxy' | 'traefik' | 'envoy' | 'nginx';

export const FLAVOURS: readonly FlavourName[] = ['proxy', 'traefik', 'envoy', 'nginx'];

/** The authentik header set, as Gatehouse writes the names. */
export const AUTHENTIK_HEADERS = [
  'X-authentik-username',
  'X-authentik-groups',
  'X-authentik-email',
  'X-authentik-name',
  'X-authentik-uid',
  'X-authentik-jwt',
  'X-authentik-meta-app',
  'X-authentik-meta-provider',
  'X-authentik-meta-outpost',
] as const;

/** Identity headers by lowercase name; a header that did not arrive is undefined. */
export type IdentitySeen = Record<string, string | undefined>;

export type Exchange = {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  location: string | undefined;
  setCookies: string[];
  /** Requests that reached the application during this exchange. */
  reachedApp: number;
  /** What the application received, or undefined when nothing reached it. */
  identity: IdentitySeen | undefined;
};

export type Deployment = {
  flavour: FlavourName;
  stack: Stack;
  /** The session cookie's name for the application. */
  cookieName: string;
  /** One request to `path` on the application, as the browser makes it (no redirects followed). */
  open(browser: Browser, path: string, options?: RequestOptions): Promise<Exchange>;
  /** Signs in from a request to `path` and returns what the application then receives there. */
  signIn(browser: Browser, username: string, path: string): Promise<IdentitySeen>;
  /** How many requests have reached the application so far (nginx: how many were allowed). */
  appRequests(): number;
  close(): Promise<void>;
};

export async function deploy(
  flavour: FlavourName,
  options: Omit<StackOptions, 'mode' | 'publicPort'> = {},
): Promise<Deployment> {
  let frontend: Frontend | undefined;
  let stack: Stack;
  if (flavour === 'traefik' || flavour === 'envoy') {
    const port = await freePort();
    stack = await startStack({ ...options, mode: 'forward_single', publicPort: port });
    frontend = await startFrontend({
      flavour,
      port,
      gatehouse: stack.gatehouseUrl,
      upstream: stack.whoami.url,
      prefix: PREFIX,
      copyHeaders: [...AUTHENTIK_HEADERS],
    });
  } else {
    stack = await startStack({
      ...options,
      mode: flavour === 'proxy' ? 'proxy' : 'forward_single',
    });
  }

  let nginxAllowed = 0;
  const appRequests = () => (flavour === 'nginx' ? nginxAllowed : stack.whoami.requests.length);

  const open = async (browser: Browser, path: string, options: RequestOptions = {}) => {
    if (flavour !== 'nginx') {
      const before = stack.whoami.requests.length;
      const response = await browser.request(stack.appUrl(path), options);
      const reached = stack.whoami.requests.slice(before);
      return exchange(response, reached.length, reached.at(-1)?.headers);
    }

    const url = stack.appUrl(path);
    const response = await browser.request(`${stack.gatehouseUrl}${PREFIX}/auth/nginx`, {
      ...options,
      method: 'GET',
      body: undefined,
      headers: {
        'x-original-url': url,
        'x-original-method': (options.method ?? 'GET').toUpperCase(),
        cookie: browser.cookieHeader(url),
        ...options.headers,
      },
    });
    // `$upstream_http_set_cookie` holds the first Set-Cookie only, and the snippet hands that
    // one to the browser on the application's host.
    const first = response.headers['set-cookie']?.[0];
    if (first) browser.jar.store(first, url);
    const allowed = response.status >= 200 && response.status < 300;
    if (allowed) nginxAllowed += 1;
    return exchange(response, allowed ? 1 : 0, allowed ? response.headers : undefined);
  };

  const signIn = async (browser: Browser, username: string, path: string) => {
    const url = stack.appUrl(path);
    if (flavour !== 'nginx') {
      const landed = await browser.login(url, username);
      assert.equal(landed.url, url, `sign-in did not return to ${url}`);
      assert.equal(landed.status, 200, landed.body);
      return identityOf(stack.whoami.requests.at(-1)?.headers ?? {});
    }

    const challenge = await open(browser, path);
    assert.equal(challenge.status, 401, challenge.body);
    assert.ok(challenge.location, 'the nginx challenge names where to sign in');
    const landed = await browser.login(challenge.location, username);
    assert.equal(landed.url, url, `sign-in did not return to ${url}`);
    const allowed = await open(browser, path);
    assert.equal(allowed.status, 200, allowed.body);
    return allowed.identity!;
  };

  const cookieName = stack.gatehouse.gatehouse.router.applications[0]!.cookie.name;
  return {
    flavour,
    stack,
    cookieName,
    open,
    signIn,
    appRequests,
    async close() {
      await frontend?.close();
      await stack.close();
    },
  };
}

function exchange(
  response: { status: number; headers: IncomingHttpHeaders; body: string },
  reachedApp: number,
  appHeaders: IncomingHttpHeaders | undefined,
): Exchange {
  const location = response.headers.location;
  return {
    status: response.status,
    headers: response.headers,
    body: response.body,
    location: Array.isArray(location) ? location[0] : location,
    setCookies: response.headers['set-cookie'] ?? [],
    reachedApp,
    identity: appHeaders ? identityOf(appHeaders) : undefined,
  };
}

export function identityOf(headers: IncomingHttpHeaders): IdentitySeen {
  const seen: IdentitySeen = {};
  for (const name of AUTHENTIK_HEADERS) {
    const value = headers[name.toLowerCase()];
    seen[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return seen;
}

/** The identity without the access token, which is new with every sign-in. */
export function stableIdentity(identity: IdentitySeen): IdentitySeen {
  const { 'x-authentik-jwt': jwt, ...rest } = identity;
  assert.ok(jwt, 'the application receives the access token');
  return rest;
}

/**
 * Asserts the flavour's answer for a navigation that must sign in first: a redirect straight to
 * the provider (proxy, Traefik, Envoy), or nginx's 401 naming `/start` with the return URL.
 */
export function assertLoginChallenge(deployment: Deployment, seen: Exchange, path: string): void {
  const { stack } = deployment;
  assert.equal(seen.reachedApp, 0, 'a request without a valid session reached the application');

  if (deployment.flavour === 'nginx') {
    assert.equal(seen.status, 401, seen.body);
    const rd = encodeURIComponent(stack.appUrl(path));
    assert.equal(seen.location, `${stack.origin}${PREFIX}/start?rd=${rd}`);
    return;
  }
  assert.equal(seen.status, 302, seen.body);
  assert.ok(seen.location, 'a login challenge has a Location');
  const target = new URL(seen.location);
  assert.equal(target.origin, stack.provider.issuer, `not sent to the provider: ${seen.location}`);
  assert.equal(target.searchParams.get('redirect_uri'), `${stack.origin}${PREFIX}/callback`);
  assert.ok(target.searchParams.get('state'), 'the authorization request carries a state');
  assert.ok(
    seen.setCookies.some((line) => line.startsWith('gatehouse_flow_')),
    'a login flow cookie is set with the redirect',
  );
}

/** True when the Set-Cookie lines delete the named cookie. */
export function clearsCookie(setCookies: string[], name: string): boolean {
  return setCookies.some((line) => line.startsWith(`${name}=;`) && /max-age=0/i.test(line));
}
