import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { test } from 'node:test';

import { requireBinary } from '../support/binaries.ts';
import { startCaddy } from '../support/caddy.ts';
import { startNginx } from '../support/nginx.ts';
import { acceptsConnections, freePort } from '../support/ports.ts';
import { startRedis } from '../support/redis.ts';

const nginx = requireBinary('nginx');
const caddy = requireBinary('caddy');
const redis = requireBinary('redis-server');

test('startNginx serves a config on the port it listens on', { skip: nginx.skip }, async () => {
  const port = await freePort();
  const server = await startNginx({
    config: `server {\n  listen 127.0.0.1:${port};\n  location / { return 200 "ok"; }\n}\n`,
  });
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 200, server.logs());
    assert.equal(await response.text(), 'ok');
  } finally {
    await server.close();
  }
  assert.equal(await acceptsConnections(port), false, 'nginx still listens after close()');
});

test('startNginx reports a broken config with the error log', { skip: nginx.skip }, async () => {
  const port = await freePort();
  await assert.rejects(
    startNginx({ config: `server {\n  listen 127.0.0.1:${port};\n  no_such_directive;\n}\n` }),
    /unknown directive "no_such_directive"/,
  );
});

test('startCaddy serves a Caddyfile with the admin API off', { skip: caddy.skip }, async () => {
  const port = await freePort();
  const server = await startCaddy({ caddyfile: `http://127.0.0.1:${port} {\n\trespond "ok"\n}\n` });
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 200, server.logs());
    assert.equal(await response.text(), 'ok');
    assert.match(server.caddyfile, /admin off/);
  } finally {
    await server.close();
  }
  assert.equal(await acceptsConnections(port), false, 'caddy still listens after close()');
});

test(
  'startRedis answers PING, and survives pause, stop and start',
  { skip: redis.skip },
  async () => {
    const server = await startRedis();
    try {
      assert.equal(server.url, `redis://127.0.0.1:${server.port}/0`);
      assert.equal(await command(server.port, 'PING'), '+PONG');

      server.pause();
      assert.equal(await command(server.port, 'PING', 300), 'timeout');
      server.resume();
      assert.equal(await command(server.port, 'PING'), '+PONG');

      await server.stop();
      assert.equal(await acceptsConnections(server.port), false);
      await server.start();
      assert.equal(await command(server.port, 'PING'), '+PONG');
    } finally {
      await server.close();
    }
  },
);

/** One inline command on a fresh connection: its first reply line, or `timeout`. */
function command(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.once('error', reject);
  });
}

test('a missing binary skips with an install hint, and fails the run under CI', () => {
  const saved = process.env.CI;
  try {
    delete process.env.CI;
    assert.deepEqual(requireBinary('gatehouse-no-such-binary', 'apt-get install nothing'), {
      path: null,
      skip: 'gatehouse-no-such-binary not found; install it with: apt-get install nothing',
    });

    process.env.CI = 'true';
    assert.throws(
      () => requireBinary('gatehouse-no-such-binary', 'apt-get install nothing'),
      /gatehouse-no-such-binary not found; install it with: apt-get install nothing/,
    );
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
});
