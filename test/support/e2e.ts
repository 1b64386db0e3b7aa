/**
 * A forward-auth deployment as the README shows it: a real reverse proxy running the README's
 * snippet, in front of real Gatehouse (forward_single) and the recording whoami application,
 * with the in-process provider behind Gatehouse.
 *
 * @example
 * ```ts
 * const deployment = await startBehindProxy('nginx');
 * after(() => deployment.close());
 * await deployment.stack.browser().login(deployment.url('/'), 'alice');
 * ```
 * @module
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

import { ALICE } from '../../src/demo/users.ts';
import type { RecordedRequest } from '../../src/demo/whoami.ts';
import type { BrowserResponse } from './browser.ts';
import { startCaddy } from './caddy.ts';
import { startNginx } from './nginx.ts';
import { freePort } from './ports.ts';
import { startStack, type Stack } from './stack.ts';

export type ReverseProxy = 'nginx' | 'caddy';

export interface ProxiedDeployment {
  stack: Stack;
  /** The public origin, on the reverse proxy: `http://app.example.test:<proxy port>`. */
  origin: string;
  /** A URL on the public site, through the reverse proxy. */
  url(path: string): string;
  /** The reverse proxy's logs, for assertion messages. */
  logs(): string;
  close(): Promise<void>;
}

export interface ProxiedDeploymentOptions {
  /** Application settings merged over the stack's defaults, e.g. `skip_path_regex`. */
  app?: Record<string, unknown>;
}

/** The README snippet of each reverse proxy, the public address it is written for, and ours. */
const SNIPPETS: Record<
  ReverseProxy,
  { file: string; publicAddress: string; on(port: number): string }
> = {
  nginx: {
    file: 'nginx/app.conf',
    publicAddress: '127.0.0.1:8000',
    on: (port) => `127.0.0.1:${port}`,
  },
  caddy: {
    file: 'caddy/Caddyfile',
    publicAddress: 'app.example.test:8000',
    on: (port) => `app.example.test:${port}`,
  },
};

/**
 * Starts the stack with the application's external_host on the reverse proxy's port, then the
 * reverse proxy with the README snippet, its example addresses replaced by this run's ports.
 */
export async function startBehindProxy(
  proxy: ReverseProxy,
  options: ProxiedDeploymentOptions = {},
): Promise<ProxiedDeployment> {
  const port = await freePort();
  const stack = await startStack({ mode: 'forward_single', publicPort: port, app: options.app });

  const snippet = SNIPPETS[proxy];
  let running: { logs(): string; close(): Promise<void> };
  try {
    const text = await readSnippet(snippet.file, {
      [snippet.publicAddress]: snippet.on(port),
      '127.0.0.1:9000': new URL(stack.gatehouseUrl).host,
      '127.0.0.1:8080': new URL(stack.whoami.url).host,
    });
    running =
      proxy === 'nginx'
        ? await startNginx({ config: text })
        : await startCaddy({ caddyfile: text });
  } catch (error) {
    await stack.close();
    throw error;
  }

  return {
    stack,
    origin: stack.origin,
    url: (path) => `${stack.origin}${path}`,
    logs: () => running.logs(),
    async close() {
      await running.close();
      await stack.close();
    },
  };
}

/** An example file with its example addresses replaced; each must still appear in it. */
export async function readSnippet(
  name: string,
  replacements: Record<string, string>,
): Promise<string> {
  let text = await readFile(new URL(`../../examples/${name}`, import.meta.url), 'utf8');
  for (const [from, to] of Object.entries(replacements)) {
    assert.ok(text.includes(from), `examples/${name} no longer mentions ${from}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/** Spellings of the username header a client might forge to slip past a case-exact filter. */
export const FORGED_USERNAME_HEADERS = [
  'X-authentik-username',
  'x-authentik-username',
  'X_authentik_username',
];

/** The identity headers a request carried: names in lower case with `-` for `_`, repeats kept. */
export function identityHeaders(request: RecordedRequest): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!.toLowerCase().replaceAll('_', '-');
    if (name.startsWith('x-authentik-')) found.push([name, request.rawHeaders[i + 1]!]);
  }
  return found;
}

/**
 * The identity headers that stay the same from one sign-in to the next: all but
 * `x-authentik-jwt`, which carries each sign-in's own access token.
 */
export function personHeaders(request: RecordedRequest): Array<[string, string]> {
  return identityHeaders(request).filter(([name]) => name !== 'x-authentik-jwt');
}

/** The values the application got for one identity header, in whatever spelling they came. */
export function identityValues(request: RecordedRequest, name: string): string[] {
  return identityHeaders(request)
    .filter(([found]) => found === name.toLowerCase())
    .map(([, value]) => value);
}

/** The application was reached at `url` (path and query) with alice's identity, once each. */
export function assertReachedAsAlice(request: RecordedRequest | undefined, url: string): void {
  assert.ok(request, 'the application was not reached');
  assert.equal(request.url, url);
  assert.deepEqual(identityValues(request, 'x-authentik-username'), ['alice']);
  assert.deepEqual(identityValues(request, 'x-authentik-groups'), ['admins|staff']);
  assert.deepEqual(identityValues(request, 'x-authentik-email'), [ALICE.email]);
  assert.deepEqual(identityValues(request, 'x-authentik-uid'), [ALICE.sub]);
}

/** The `Location` of a redirect, asserted to be one. */
export function redirectTarget(response: BrowserResponse, logs: () => string): URL {
  assert.ok(
    [302, 303].includes(response.status),
    `expected a redirect from ${response.url}, got ${response.status} ${response.body}\n${logs()}`,
  );
  const location = response.headers.location;
  assert.ok(location, `the redirect from ${response.url} has no Location`);
  return new URL(location, response.url);
}
