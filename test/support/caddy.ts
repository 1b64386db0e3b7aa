/**
 * Starts a real Caddy for a test from a Caddyfile.
 *
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findBinary, INSTALL_HINTS } from './binaries.ts';
import { waitForPort } from './ports.ts';
import { spawnServer } from './processes.ts';

export interface CaddyOptions {
  /**
   * The Caddyfile. Without a global options block, `{ admin off; auto_https off }` is
   * put in front of it; a global block of its own must say `admin off`, so parallel
   * tests never fight over the admin port 2019.
   */
  caddyfile: string;
  /** Defaults to the `caddy` found by {@link findBinary}. */
  binary?: string;
  startTimeoutMs?: number;
}

export interface RunningCaddy {
  /** The first port the Caddyfile's site addresses name. */
  port: number;
  ports: number[];
  /** The temporary folder holding the Caddyfile and Caddy's HOME and XDG folders. */
  dir: string;
  /** The Caddyfile that was run, global options included. */
  caddyfile: string;
  /** Caddy's stdout and stderr (its logs), for assertion messages. */
  logs(): string;
  /** Stops Caddy (SIGTERM, SIGKILL after a timeout) and removes the folder. */
  close(): Promise<void>;
}

/**
 * Runs `caddy run --adapter caddyfile` on `caddyfile` with HOME, XDG_DATA_HOME and
 * XDG_CONFIG_HOME inside a fresh temporary folder, and resolves once every port named
 * by an `http://HOST:PORT` or `:PORT` site address accepts connections (on the first
 * `bind` address, else 127.0.0.1).
 *
 * @throws Error with Caddy's output when it exits or its ports do not open in time.
 */
export async function startCaddy(options: CaddyOptions): Promise<RunningCaddy> {
  const binary = options.binary ?? findBinary('caddy');
  if (binary === null) throw new Error(`caddy not found; install it with: ${INSTALL_HINTS.caddy}`);

  const caddyfile = withGlobalOptions(options.caddyfile);
  const ports = sitePorts(caddyfile);
  if (ports.length === 0) throw new Error('the Caddyfile names no `http://HOST:PORT` site');
  const host = /^\s*bind\s+(\S+)/m.exec(caddyfile)?.[1] ?? '127.0.0.1';

  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-caddy-'));
  for (const sub of ['home', 'data', 'config']) await mkdir(join(dir, sub));
  const file = join(dir, 'Caddyfile');
  await writeFile(file, caddyfile);

  const server = spawnServer(binary, ['run', '--config', file, '--adapter', 'caddyfile'], {
    cwd: dir,
    env: {
      ...process.env,
      HOME: join(dir, 'home'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
  });

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await server.stop('SIGTERM', 3000);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const port of ports) {
      await waitForPort(port, host, options.startTimeoutMs ?? 10_000, server.isAlive);
    }
  } catch (error) {
    const details = `${server.exitReason()}\n${server.output()}`;
    await close();
    throw new Error(`caddy did not start: ${(error as Error).message}\n${details}`, {
      cause: error,
    });
  }

  return { port: ports[0]!, ports, dir, caddyfile, logs: server.output, close };
}

/** Puts the test defaults in front of a Caddyfile that has no global options block. */
export function withGlobalOptions(caddyfile: string): string {
  const firstLine = caddyfile
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !line.startsWith('#'));
  if (firstLine !== '{') return `{\n\tadmin off\n\tauto_https off\n}\n\n${caddyfile}`;

  if (!/^\s*admin\s+off\s*$/m.test(caddyfile)) {
    throw new Error('the Caddyfile has a global options block without `admin off`');
  }
  return caddyfile;
}

/**
 * Ports of the site addresses (`http://HOST:PORT`, `HOST:PORT`, `:PORT`) written at the
 * top level of the Caddyfile, each once; addresses inside site blocks are upstreams.
 */
export function sitePorts(caddyfile: string): number[] {
  const ports = new Set<number>();
  let depth = 0;
  for (const rawLine of caddyfile.split('\n')) {
    const line = rawLine.replace(/(^|\s)#.*$/, '').trim();
    if (depth === 0) {
      for (const address of line.replace(/\{.*$/, '').split(/[\s,]+/)) {
        const port = /^(?:https?:\/\/)?[^\s:/]*:(\d+)$/.exec(address)?.[1];
        if (port !== undefined) ports.add(Number(port));
      }
    }
    depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
  }
  return [...ports];
}
