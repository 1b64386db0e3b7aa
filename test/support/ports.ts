/**
 * TCP port helpers for tests that start real servers.
 *
 * @module
 */
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Returns a port that was free on 127.0.0.1 a moment ago.
 *
 * NOTE: another process may take the port between this call and the caller's own
 * `listen`; tests accept that small race rather than passing sockets around.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listening on 127.0.0.1:0 gave no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Resolves true when one TCP connection to `host:port` succeeds, false when it is refused. */
export function acceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Waits until `host:port` accepts a TCP connection.
 *
 * `isAlive`, when given, is asked between attempts so a server that has already exited
 * fails the wait at once instead of after the whole timeout.
 *
 * @throws Error when the port does not open within `timeoutMs` or `isAlive` says no.
 */
export async function waitForPort(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 10_000,
  isAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await acceptsConnections(port, host)) return;
    if (!isAlive()) throw new Error(`the process exited before ${host}:${port} opened`);
    if (Date.now() > deadline) {
      throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    }
    await sleep(25);
  }
}
