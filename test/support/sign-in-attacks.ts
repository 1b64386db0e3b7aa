/**
 * Tools for attacks on the sign-in flow and the session lifecycle: a deployment with two
 * applications (and a second client at the provider), a way to rewrite what the provider
 * answers, and ID tokens re-signed with the provider's own key.
 *
 * @example
 * ```ts
 * const two = await startTwoApps();
 * t.after(() => two.close());
 * rewriteProvider(two.provider, async (ctx) => { ... });
 * ```
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as jose from 'jose';

import { startGatehouse, type Running } from '../../src/cli.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { startWhoami, type RunningWhoami } from '../../src/demo/whoami.ts';
import { createLogger } from '../../src/log.ts';
import { Browser } from './browser.ts';
import { freePort } from './ports.ts';
import {
  startTestProvider,
  testClient,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  type RunningProvider,
} from './provider.ts';
import { PREFIX, SECRET } from './stack.ts';

/** A client of the same provider that is not Gatehouse's, registered with Gatehouse's callback. */
export const OTHER_CLIENT_ID = 'someone-elses-client';
export const OTHER_CLIENT_SECRET = 'someone-elses-client-secret-0123456789';

export type TwoApps = {
  provider: RunningProvider;
  whoami: RunningWhoami;
  gatehouse: Running;
  config: Config;
  providerKeysFile: string;
  /** Origins of the applications `a` and `b`, both Gatehouse's, same provider and client. */
  a: string;
  b: string;
  browser(): Browser;
  close(): Promise<void>;
};

export async function startTwoApps(): Promise<TwoApps> {
  const port = await freePort();
  const a = `http://a.example.test:${port}`;
  const b = `http://b.example.test:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-attack-'));
  const providerKeysFile = join(dir, 'provider-keys.json');
  const provider = await startTestProvider(
    [
      testClient(`${a}${PREFIX}/callback`, {
        redirect_uris: [`${a}${PREFIX}/callback`, `${b}${PREFIX}/callback`],
        post_logout_redirect_uris: [`${a}/`, `${b}/`],
      }),
      {
        client_id: OTHER_CLIENT_ID,
        client_secret: OTHER_CLIENT_SECRET,
        redirect_uris: [`${a}${PREFIX}/callback`],
      },
    ],
    { keysFile: providerKeysFile },
  );
  const whoami = await startWhoami();
  const oidc = {
    issuer: provider.issuer,
    client_id: TEST_CLIENT_ID,
    client_secret: TEST_CLIENT_SECRET,
  };
  const config = configSchema.parse({
    listen: `127.0.0.1:${port}`,
    secret: SECRET,
    log_level: process.env.GATEHOUSE_TEST_LOG ?? 'silent',
    session: { store: 'memory' },
    applications: [
      { name: 'a', mode: 'proxy', external_host: a, internal_host: whoami.url, oidc },
      { name: 'b', mode: 'proxy', external_host: b, internal_host: whoami.url, oidc },
    ],
  });
  const gatehouse = await startGatehouse(config, { log: createLogger(config.log_level) });
  return {
    provider,
    whoami,
    gatehouse,
    config,
    providerKeysFile,
    a,
    b,
    browser: () => new Browser(),
    async close() {
      await gatehouse.close();
      await whoami.close();
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The parts of a Koa context of oidc-provider that the rewrites below touch. */
export type ProviderContext = {
  path: string;
  method: string;
  status: number;
  body: unknown;
  oidc?: { route?: string; params?: Record<string, unknown> };
};

/**
 * Runs `after` on every provider response once oidc-provider has produced it, so a test can play
 * a provider (or a network path) that answers something else than it should.
 */
export function rewriteProvider(
  provider: RunningProvider,
  after: (ctx: ProviderContext) => void | Promise<void>,
): void {
  const koa = provider.provider as unknown as {
    use(fn: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): void;
  };
  koa.use(async (ctx, next) => {
    await next();
    await after(ctx);
  });
}

/** The provider's RS256 signing key, as the provider itself would sign with it. */
export async function providerSigningKey(
  keysFile: string,
): Promise<{ key: jose.CryptoKey; kid: string }> {
  const { keys } = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: jose.JWK[] };
  const jwk = keys.find((key) => key.alg === 'RS256');
  if (!jwk?.kid) throw new Error(`no RS256 key with a kid in ${keysFile}`);
  return { key: (await jose.importJWK(jwk, 'RS256')) as jose.CryptoKey, kid: jwk.kid };
}

/** `idToken` with some claims changed, signed again with the provider's key. */
export async function resignIdToken(
  keysFile: string,
  idToken: string,
  changes: Record<string, unknown>,
): Promise<string> {
  const { key, kid } = await providerSigningKey(keysFile);
  const claims = { ...jose.decodeJwt(idToken), ...changes };
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
}

/** Names and values of the login-flow cookies `browser` would send to `url`. */
export function flowCookies(browser: Browser, url: string): Array<{ name: string; value: string }> {
  return browser
    .cookies(url)
    .filter((cookie) => cookie.name.startsWith('gatehouse_flow_'))
    .map(({ name, value }) => ({ name, value }));
}
