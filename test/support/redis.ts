/**
 * Starts a real redis-server for a test, and lets the test pause, kill and restart it
 * to play an unreachable or lost store.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { findBinary, INSTALL_HINTS } from './binaries.ts';
import { freePort } from './ports.ts';
import { spawnServer, type ServerProcess } from './processes.ts';

export interface RedisOptions {
  /** Defaults to the `redis-server` found by {@link findBinary}. */
  binary?: string;
  startTimeoutMs?: number;
}

export interface RunningRedis {
  /** `redis://127.0.0.1:PORT/0` */
  readonly url: string;
  readonly port: number;
  /** The current server's process id; it changes after {@link RunningRedis.start}. */
  readonly pid: number;
  /** The server's working folder; it survives {@link RunningRedis.stop}. */
  readonly dir: string;
  /** redis-server's output, for assertion messages. */
  logs(): string;
  /** SIGSTOP: connections stay open and every command hangs, as on a stalled network. */
  pause(): void;
  /** SIGCONT after {@link RunningRedis.pause}. */
  resume(): void;
  /** Kills the server (SIGKILL, like a crash) and keeps its folder. */
  stop(): Promise<void>;
  /** Starts a fresh server on the same port and folder and waits for PING. */
  start(): Promise<void>;
  /** Kills the server and removes its folder. */
  close(): Promise<void>;
}

/**
 * Runs `redis-server` on a free 127.0.0.1 port without persistence, and resolves once
 * it answers `PING` with `+PONG`.
 *
 * @throws Error with redis-server's output when it exits or does not answer in time.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const binary = options.binary ?? findBinary('redis-server');
  if (binary === null) {
    throw new Error(`redis-server not found; install it with: ${INSTALL_HINTS['redis-server']}`);
  }
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--protected-mode', 'no',
  ]; // prettier-ignore

  let server: ServerProcess | null = null;

  const kill = async (): Promise<void> => {
    const current = server;
    server = null;
    await current?.stop('SIGKILL', 1000);
  };

  const start = async (): Promise<void> => {
    if (server?.isAlive()) throw new Error('redis-server is already running');
    const started = spawnServer(binary, args, { cwd: dir });
    server = started;
    try {
      await waitForPong(port, timeoutMs, started.isAlive);
    } catch (error) {
      await kill();
      const details = `${started.exitReason()}\n${started.output()}`;
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${details}`, {
        cause: error,
      });
    }
  };

  try {
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    get pid() {
      return server?.pid ?? 0;
    },
    logs: () => server?.output() ?? '',
    pause() {
      if (server === null) throw new Error('redis-server is not running');
      server.child.kill('SIGSTOP');
    },
    resume() {
      if (server === null) throw new Error('redis-server is not running');
      server.child.kill('SIGCONT');
    },
    stop: kill,
    start,
    async close() {
      // SIGKILL ends a stopped process too, so a paused server needs no SIGCONT first.
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `PING` on a raw connection gets `+PONG` (not `-LOADING` or a refusal). */
async function waitForPong(port: number, timeoutMs: number, isAlive: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port)) return;
    if (!isAlive()) throw new Error('the process exited before answering PING');
    if (Date.now() > deadline) throw new Error(`no +PONG on port ${port} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}
