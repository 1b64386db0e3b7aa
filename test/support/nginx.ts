/**
 * Starts a real nginx for a test, from the inside of an `http {}` block.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findBinary, INSTALL_HINTS } from './binaries.ts';
import { waitForPort } from './ports.ts';
import { spawnServer } from './processes.ts';

export interface NginxOptions {
  /** The inside of the `http {}` block: `server {}` blocks, maps, upstreams. */
  config: string;
  /** Defaults to the `nginx` found by {@link findBinary}. */
  binary?: string;
  startTimeoutMs?: number;
}

export interface RunningNginx {
  /** The first port the config listens on. */
  port: number;
  /** Every port the config listens on, in the order written. */
  ports: number[];
  /** The temporary prefix folder holding nginx.conf, logs and temp files. */
  dir: string;
  /** The full nginx.conf that was written. */
  configText: string;
  /** The error log, access log and process output, for assertion messages. */
  logs(): string;
  /** Graceful stop (SIGQUIT), SIGKILL after a timeout, then the folder is removed. */
  close(): Promise<void>;
}

/**
 * Writes a complete nginx.conf around `config` into a fresh temporary folder, runs nginx
 * in the foreground with every path (pid, logs, temp files) inside that folder, and
 * resolves once every `listen` address of `config` accepts connections.
 *
 * `listen` directives need an explicit port (`listen 127.0.0.1:8000;`); a bare host
 * would mean port 80.
 *
 * @throws Error with the error log when nginx exits or its ports do not open in time.
 */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const binary = options.binary ?? findBinary('nginx');
  if (binary === null) throw new Error(`nginx not found; install it with: ${INSTALL_HINTS.nginx}`);

  const listens = listenAddresses(options.config);
  if (listens.length === 0) throw new Error('the nginx config has no `listen HOST:PORT;`');

  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-nginx-'));
  const configText = nginxConf(dir, options.config);
  await writeFile(join(dir, 'nginx.conf'), configText);

  const server = spawnServer(binary, [
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-e',
    join(dir, 'error.log'),
  ]);
  const logs = (): string =>
    [
      `--- error.log\n${readQuietly(join(dir, 'error.log'))}`,
      `--- access.log\n${readQuietly(join(dir, 'access.log'))}`,
      `--- output\n${server.output()}`,
    ].join('\n');

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await server.stop('SIGQUIT', 3000);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const { host, port } of listens) {
      await waitForPort(port, host, options.startTimeoutMs ?? 10_000, server.isAlive);
    }
  } catch (error) {
    const details = `${server.exitReason()}\n${await logsNow(logs)}`;
    await close();
    throw new Error(`nginx did not start: ${(error as Error).message}\n${details}`, {
      cause: error,
    });
  }

  return {
    port: listens[0]!.port,
    ports: listens.map((listen) => listen.port),
    dir,
    configText,
    logs,
    close,
  };
}

function nginxConf(dir: string, httpInner: string): string {
  // Workers run as root when the tests do: the prefix folder is mkdtemp's 0700, and
  // proxied bodies spill into temp files inside it.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  const path = (name: string): string => join(dir, name);
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${path('nginx.pid')};
error_log ${path('error.log')} info;

events {
  worker_connections 256;
}

http {
  access_log ${path('access.log')};
  client_body_temp_path ${path('client_body_temp')};
  proxy_temp_path ${path('proxy_temp')};
  fastcgi_temp_path ${path('fastcgi_temp')};
  uwsgi_temp_path ${path('uwsgi_temp')};
  scgi_temp_path ${path('scgi_temp')};
  default_type application/octet-stream;

${httpInner}
}
`;
}

interface ListenAddress {
  host: string;
  port: number;
}

/** The addresses of `listen` directives: `HOST:PORT`, `[::1]:PORT` or a bare `PORT`. */
export function listenAddresses(config: string): ListenAddress[] {
  const found: ListenAddress[] = [];
  for (const match of config.matchAll(/(?:^|[\s{;])listen\s+([^\s;]+)/g)) {
    const address = match[1]!;
    const hostPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
    if (hostPort !== null) {
      const host = hostPort[1]!.replace(/^\[|\]$/g, '');
      found.push({ host: host === '*' ? '127.0.0.1' : host, port: Number(hostPort[2]) });
    } else if (/^\d+$/.test(address)) {
      found.push({ host: '127.0.0.1', port: Number(address) });
    }
  }
  return found;
}

function readQuietly(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(none)';
  }
}

async function logsNow(logs: () => string): Promise<string> {
  // nginx writes its last error line just before exiting; give the write a moment.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return logs();
}
