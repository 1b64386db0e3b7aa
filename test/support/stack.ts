/**
 * A whole Gatehouse deployment for tests: the in-process provider, a recording whoami
 * application and Gatehouse itself, wired to each other on free loopback ports.
 *
 * @example
 * ```ts
 * const stack = await startStack({ mode: 'proxy' });
 * t.after(() => stack.close());
 * const browser = stack.browser();
 * await browser.login(stack.appUrl('/'), 'alice');
 * ```
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export const PREFIX = '/outpost.goauthentik.io';
export const SECRET = 'test-secret-that-is-at-least-32-bytes-long';

export type StackOptions = {
  mode?: 'proxy' | 'forward_single' | 'forward_domain';
  store?: 'memory' | 'sqlite';
  /** The public host:port of the application; default `app.example.test:<gatehouse port>`. */
  publicPort?: number;
  /**
   * The public hostname of the application (its external_host and the redirect URIs registered
   * with the provider); default `app.example.test`. Domain mode uses its auth host here.
   */
  host?: string;
  app?: Record<string, unknown>;
  config?: Record<string, unknown>;
  provider?: Parameters<typeof startTestProvider>[1];
  /** Where Gatehouse's log lines go (set `config: { log_level }` too); default stdout. */
  logTo?: { write(line: string): void };
  /** Registers Gatehouse's back-channel logout endpoint with the provider. */
  backchannel?: boolean;
};

export type Stack = {
  gatehouse: Running;
  provider: RunningProvider;
  whoami: RunningWhoami;
  config: Config;
  /** The provider's private signing keys (JWKs), for tests that mint their own tokens. */
  providerKeysFile: string;
  /** The application's public origin, e.g. http://app.example.test:41234 */
  origin: string;
  gatehouseUrl: string;
  appUrl(path: string): string;
  browser(): Browser;
  /** Stops Gatehouse and starts it again on the same port, config and store file. */
  restart(): Promise<void>;
  close(): Promise<void>;
};

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const gatehousePort = await freePort();
  const publicPort = options.publicPort ?? gatehousePort;
  const origin = `http://${options.host ?? 'app.example.test'}:${publicPort}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));

  const providerKeysFile = join(dir, 'provider-keys.json');
  const backchannel = options.backchannel
    ? {
        backchannel_logout_uri: `http://127.0.0.1:${gatehousePort}${PREFIX}/backchannel_logout`,
        backchannel_logout_session_required: true,
      }
    : {};
  const provider = await startTestProvider(
    [
      testClient(`${origin}${PREFIX}/callback`, {
        post_logout_redirect_uris: [`${origin}/`],
        ...backchannel,
      }),
    ],
    { keysFile: providerKeysFile, ...options.provider },
  );
  const whoami = await startWhoami();
  const config = configSchema.parse({
    listen: `127.0.0.1:${gatehousePort}`,
    secret: SECRET,
    log_level: process.env.GATEHOUSE_TEST_LOG ?? 'silent',
    session: { store: options.store ?? 'memory', sqlite_path: join(dir, 'sessions.sqlite') },
    applications: [
      {
        name: 'app',
        mode: options.mode ?? 'proxy',
        external_host: origin,
        internal_host: whoami.url,
        oidc: {
          issuer: provider.issuer,
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
        },
        ...options.app,
      },
    ],
    ...options.config,
  });

  const log = createLogger(config.log_level, options.logTo);
  let gatehouse = await startGatehouse(config, { log });
  const stack: Stack = {
    get gatehouse() {
      return gatehouse;
    },
    provider,
    whoami,
    config,
    providerKeysFile,
    origin,
    gatehouseUrl: gatehouse.url,
    appUrl: (path) => `${origin}${path}`,
    browser: () => new Browser(),
    async restart() {
      await gatehouse.close();
      gatehouse = await startGatehouse(config, { log });
    },
    async close() {
      await gatehouse.close();
      await whoami.close();
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}
