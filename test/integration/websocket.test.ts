import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startStack, type Stack } from '../support/stack.ts';

type WebsocketApp = {
  url: string;
  upgrades: IncomingHttpHeaders[];
  requests: number;
  close(): Promise<void>;
};

/** An application that echoes websocket messages, and refuses upgrades under /refuse. */
async function startWebsocketApp(): Promise<WebsocketApp> {
  const upgrades: IncomingHttpHeaders[] = [];
  const app: WebsocketApp = { url: '', upgrades, requests: 0, close: async () => {} };
  const server = http.createServer((_req, res) => {
    app.requests++;
    res.end('plain');
  });
  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(req.headers);
    if (req.url?.startsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefused');
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) =>
      ws.on('message', (data) => ws.send(`echo:${data}`)),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.close = async () => {
    sockets.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return app;
}

async function setUp(t: { after(fn: () => Promise<void>): void }) {
  const app = await startWebsocketApp();
  const stack = await startStack({ mode: 'proxy', app: { internal_host: app.url } });
  t.after(async () => {
    await stack.close();
    await app.close();
  });
  return { app, stack };
}

function connect(stack: Stack, path: string, cookie?: string) {
  const address = new URL(stack.gatehouseUrl);
  return new WebSocket(`ws://${address.host}${path}`, {
    headers: { host: new URL(stack.origin).host, ...(cookie ? { cookie } : {}) },
  });
}

async function signedInCookie(stack: Stack): Promise<string> {
  const browser = stack.browser();
  await browser.login(stack.appUrl('/'), 'alice');
  return browser.cookieHeader(stack.origin);
}

test('a websocket upgrade without a session gets 401 and no redirect', async (t) => {
  const { app, stack } = await setUp(t);
  const ws = connect(stack, '/socket');

  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];

  assert.equal(response.statusCode, 401);
  assert.equal(response.headers.location, undefined);
  assert.equal(app.upgrades.length, 0);
});

test('a websocket upgrade with a session reaches the application with identity headers', async (t) => {
  const { app, stack } = await setUp(t);
  const ws = connect(stack, '/socket', await signedInCookie(stack));
  await once(ws, 'open');

  ws.send('hello');
  const [message] = await once(ws, 'message');
  ws.close();

  assert.equal(String(message), 'echo:hello');
  assert.equal(app.upgrades.length, 1);
  assert.equal(app.upgrades[0]!['x-authentik-username'], 'alice');
  assert.equal(app.upgrades[0]!.cookie, undefined, 'Gatehouse cookies are not passed on');
});

test('a refused upgrade reaches the client and nothing more is tunnelled on that connection', async (t) => {
  const { app, stack } = await setUp(t);
  const cookie = await signedInCookie(stack);
  const address = new URL(stack.gatehouseUrl);
  const socket = net.connect(Number(address.port), address.hostname);
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const host = new URL(stack.origin).host;

  const requestsBefore = app.requests;
  // The second request is pipelined behind the upgrade without a cookie: it must not be tunnelled.
  socket.write(
    `GET /refuse HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' +
      `GET /after HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`,
  );
  await once(socket, 'close');

  const text = Buffer.concat(received).toString();
  assert.match(text, /^HTTP\/1\.1 403/);
  assert.match(text, /refused/);
  assert.equal(app.upgrades.length, 1);
  assert.equal(
    app.requests,
    requestsBefore,
    'nothing reached the application behind the refused upgrade',
  );
});

test('a forward-auth check for a websocket gets a plain answer: 200 with identity, or 401', async (t) => {
  // The forward-auth endpoints judge any application; a proxy-mode one lets the test sign in.
  const stack = await startStack();
  t.after(() => stack.close());
  const cookie = await signedInCookie(stack);
  const address = new URL(stack.gatehouseUrl);
  const check = (withCookie: boolean) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .request({
          host: address.hostname,
          port: address.port,
          path: '/outpost.goauthentik.io/auth/traefik',
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'x-forwarded-proto': 'http',
            'x-forwarded-host': new URL(stack.origin).host,
            'x-forwarded-uri': '/socket',
            'x-forwarded-method': 'GET',
            ...(withCookie ? { cookie } : {}),
          },
        })
        .on('response', resolve)
        .on('upgrade', () => reject(new Error('the check itself was upgraded')))
        .on('error', reject)
        .end();
    });

  const allowed = await check(true);
  const refused = await check(false);

  assert.equal(allowed.statusCode, 200);
  assert.equal(allowed.headers['x-authentik-username'], 'alice');
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.headers.location, undefined);
});
