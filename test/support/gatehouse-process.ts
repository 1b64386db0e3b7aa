/**
 * Gatehouse as a production deployment runs it: `gatehouse serve --config FILE` in a child
 * process, one or several replicas started from the same YAML file, with the in-process provider
 * and a recording whoami application in front of which they sit.
 *
 * @example
 * ```ts
 * const deployment = await startReplicas({ replicas: 2, session: { store: 'redis', redis_url } });
 * t.after(() => deployment.close());
 * const [a, b] = deployment.replicas;
 * const browser = deployment.browser();
 * await browser.login(deployment.appUrl('/'), 'alice'); // through a
 * const page = await deployment.via(b!, browser, '/'); // the same cookie, sent to b
 * ```
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { stringify } from 'yaml';

import { startWhoami, type RunningWhoami } from '../../src/demo/whoami.ts';
import { Browser, type BrowserResponse, type RequestOptions } from './browser.ts';
import { freePort } from './ports.ts';
import { spawnServer, type ServerProcess } from './processes.ts';
import {
  startTestProvider,
  testClient,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  type RunningProvider,
} from './provider.ts';
import { PREFIX, SECRET } from './stack.ts';

const COMMAND = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

/** The environment variable the shared configuration takes each replica's port from. */
export const PORT_VARIABLE = 'GATEHOUSE_PORT';

export type GatehouseProcessOptions = {
  /** A YAML configuration; `${GATEHOUSE_PORT}` in it is this process's port. */
  configFile: string;
  /** Default: a free port. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
};

export interface GatehouseProcess {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  /** Everything the process wrote to stdout and stderr, for assertion messages. */
  logs(): string;
  isAlive(): boolean;
  /** SIGTERM, as an orchestrator stops a replica; resolves once the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Starts the process again on the same port and configuration, and waits for `/ping`. */
  start(): Promise<void>;
}

/** Writes `config` as YAML into `dir` and returns the file's path. */
export function writeGatehouseConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/**
 * Runs `node bin/gatehouse.js serve --config FILE` with this Node and resolves once
 * `path_prefix/ping` answers 204.
 *
 * @throws Error with the process's output when it exits or does not answer in time.
 */
export async function startGatehouseProcess(
  options: GatehouseProcessOptions,
): Promise<GatehouseProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let server: ServerProcess | undefined;
  let earlier = '';

  const start = async (): Promise<void> => {
    if (server?.isAlive()) throw new Error(`gatehouse on port ${port} is already running`);
    earlier += server?.output() ?? '';
    const started = spawnServer(
      process.execPath,
      [COMMAND, 'serve', '--config', options.configFile],
      { env: { ...process.env, ...options.env, [PORT_VARIABLE]: String(port) } },
    );
    server = started;
    try {
      await waitForPing(url, timeoutMs, started.isAlive);
    } catch (error) {
      await started.stop('SIGKILL', 1000);
      throw new Error(
        `gatehouse did not start: ${(error as Error).message} (${started.exitReason()})\n` +
          started.output(),
        { cause: error },
      );
    }
  };

  await start();
  return {
    url,
    port,
    configFile: options.configFile,
    logs: () => earlier + (server?.output() ?? ''),
    isAlive: () => server?.isAlive() ?? false,
    stop: async () => server?.stop('SIGTERM', 5000),
    kill: async () => server?.stop('SIGKILL', 1000),
    start,
  };
}

async function waitForPing(url: string, timeoutMs: number, isAlive: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${url}${PREFIX}/ping`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 204) return;
    if (!isAlive()) throw new Error('the process exited before answering /ping');
    if (Date.now() > deadline)
      throw new Error(`no 204 from ${url}${PREFIX}/ping in ${timeoutMs} ms`);
    await sleep(50);
  }
}

export type ReplicasOptions = {
  /** How many processes share the configuration; default 1. */
  replicas?: number;
  /** The `session` mapping of the configuration. */
  session: Record<string, unknown>;
  /** Merged into the application's entry. */
  app?: Record<string, unknown>;
  provider?: Parameters<typeof startTestProvider>[1];
  /** Registers the first replica's back-channel logout endpoint with the provider. */
  backchannel?: boolean;
};

export type Replicas = {
  provider: RunningProvider;
  whoami: RunningWhoami;
  replicas: GatehouseProcess[];
  /** The configuration every replica runs, as written to {@link Replicas.configFile}. */
  config: Record<string, unknown>;
  configFile: string;
  /** The provider's private signing keys (JWKs), for tests that mint their own tokens. */
  providerKeysFile: string;
  /** The application's public origin, on the first replica's port. */
  origin: string;
  appUrl(path: string): string;
  browser(): Browser;
  /**
   * Sends one request to `replica` as though it came for the application: the external host in
   * `Host` and the browser's cookies for it. Set-Cookie lines are not stored for the origin.
   */
  via(
    replica: GatehouseProcess,
    browser: Browser,
    path: string,
    options?: RequestOptions,
  ): Promise<BrowserResponse>;
  close(): Promise<void>;
};

/**
 * Starts the provider, whoami and `replicas` Gatehouse processes from one configuration file
 * (proxy mode, one application). The application's external host is on the first replica's
 * port, so a browser navigating it reaches that replica; {@link Replicas.via} reaches the others.
 */
export async function startReplicas(options: ReplicasOptions): Promise<Replicas> {
  const ports = await Promise.all(Array.from({ length: options.replicas ?? 1 }, () => freePort()));
  const origin = `http://app.example.test:${ports[0]}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-replicas-'));
  const providerKeysFile = join(dir, 'provider-keys.json');

  const provider = await startTestProvider(
    [
      testClient(`${origin}${PREFIX}/callback`, {
        post_logout_redirect_uris: [`${origin}/`],
        ...(options.backchannel
          ? {
              backchannel_logout_uri: `http://127.0.0.1:${ports[0]}${PREFIX}/backchannel_logout`,
              backchannel_logout_session_required: true,
            }
          : {}),
      }),
    ],
    { keysFile: providerKeysFile, ...options.provider },
  );
  const whoami = await startWhoami();
  const config = {
    listen: `127.0.0.1:\${${PORT_VARIABLE}}`,
    secret: SECRET,
    log_level: process.env.GATEHOUSE_TEST_LOG ?? 'info',
    session: options.session,
    applications: [
      {
        name: 'app',
        mode: 'proxy',
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
  };
  const configFile = writeGatehouseConfig(dir, config);

  const replicas: GatehouseProcess[] = [];
  const close = async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await whoami.close();
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) replicas.push(await startGatehouseProcess({ configFile, port }));
  } catch (error) {
    await close();
    throw error;
  }

  const host = new URL(origin).host;
  return {
    provider,
    whoami,
    replicas,
    config,
    configFile,
    providerKeysFile,
    origin,
    appUrl: (path) => `${origin}${path}`,
    browser: () => new Browser(),
    via(replica, browser, path, request = {}) {
      const cookie = browser.cookieHeader(origin);
      return browser.request(`${replica.url}${path}`, {
        ...request,
        headers: { host, ...(cookie ? { cookie } : {}), ...request.headers },
      });
    },
    close,
  };
}
