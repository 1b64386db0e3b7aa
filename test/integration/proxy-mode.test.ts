import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { freePort } from '../support/ports.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { selfSignedCertificate } from '../support/tls.ts';
import { requireBinary } from '../support/binaries.ts';

const openssl = requireBinary('openssl');

const MiB = 1024 * 1024;

async function signedIn(stack: Stack) {
  const browser = stack.browser();
  assert.equal((await browser.login(stack.appUrl('/'), 'alice')).status, 200);
  return browser;
}

function listen(server: http.Server | https.Server) {
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => (server.address() as AddressInfo).port);
}

/** Streams `bytes` zero bytes through Gatehouse as a request body, returning the app's count. */
function upload(
  stack: Stack,
  cookie: string,
  bytes: number,
): Promise<{ status: number; body: string }> {
  const target = new URL(stack.gatehouseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: '/upload',
        method: 'POST',
        headers: {
          host: new URL(stack.origin).host,
          cookie,
          'content-type': 'application/octet-stream',
        },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      },
    );
    request.on('error', reject);
    const chunk = Buffer.alloc(MiB);
    let sent = 0;
    Readable.from(
      (function* () {
        while (sent < bytes) {
          sent += chunk.length;
          yield chunk;
        }
      })(),
    ).pipe(request);
  });
}

test('proxy mode streams a 256 MiB upload and download without buffering them', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = await signedIn(stack);
  const cookie = browser.cookieHeader(stack.origin);
  const size = 256 * MiB;
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  t.after(() => clearInterval(sampler));

  const up = await upload(stack, cookie, size);
  const target = new URL(stack.gatehouseUrl);
  let downloaded = 0;
  await new Promise<void>((resolve, reject) => {
    http
      .get(
        {
          host: target.hostname,
          port: target.port,
          path: `/download?bytes=${size}`,
          headers: { host: new URL(stack.origin).host, cookie },
        },
        (response) => {
          response.on('data', (chunk: Buffer) => (downloaded += chunk.length));
          response.on('end', resolve);
        },
      )
      .on('error', reject);
  });

  assert.equal(up.status, 200);
  assert.equal(JSON.parse(up.body).bytes, size);
  assert.equal(downloaded, size);
  // Both directions ran through this process; buffering either would add 256 MiB, on top of
  // what the garbage collector has not returned yet.
  assert.ok(
    peak - rssBefore < 192 * MiB,
    `memory grew by ${Math.round((peak - rssBefore) / MiB)} MiB`,
  );
});

test('the application gets X-Forwarded-* from Gatehouse, not from the client, and no hop-by-hop headers', async (t) => {
  const stack = await startStack();
  t.after(() => stack.close());
  const browser = await signedIn(stack);

  await browser.request(stack.appUrl('/hdr'), {
    headers: {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      forwarded: 'for=203.0.113.9;host=evil.example',
      connection: 'keep-alive, x-secret-hop',
      'x-secret-hop': 'should not pass',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
    },
  });

  const seen = stack.whoami.requests.at(-1)!.headers;
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-host'], new URL(stack.origin).host);
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen.forwarded, undefined);
  assert.equal(seen['x-secret-hop'], undefined);
  assert.equal(seen['proxy-authorization'], undefined);
  assert.equal(seen.host, new URL(stack.origin).host, 'the external host is kept by default');
});

test('pass_host_header: false sends the internal host upstream', async (t) => {
  const stack = await startStack({ app: { pass_host_header: false } });
  t.after(() => stack.close());
  const browser = await signedIn(stack);

  await browser.request(stack.appUrl('/host'));

  assert.equal(stack.whoami.requests.at(-1)!.headers.host, new URL(stack.whoami.url).host);
});

test('an application that is down gets a 502, one that is too slow a 504', async (t) => {
  const closed = await freePort();
  const slow = http.createServer(() => {});
  const slowPort = await listen(slow);
  t.after(() => {
    slow.closeAllConnections();
    slow.close();
  });

  const down = await startStack({ app: { internal_host: `http://127.0.0.1:${closed}` } });
  t.after(() => down.close());
  const stuck = await startStack({
    app: { internal_host: `http://127.0.0.1:${slowPort}`, upstream_timeout: '1s' },
  });
  t.after(() => stuck.close());

  const refused = await (await signedInWithoutLanding(down)).request(down.appUrl('/'));
  const timedOut = await (await signedInWithoutLanding(stuck)).request(stuck.appUrl('/'));

  assert.equal(refused.status, 502);
  assert.match(refused.body, /could not be reached \(ECONNREFUSED\)/);
  assert.equal(timedOut.status, 504);
  assert.match(timedOut.body, /did not answer within 1 s/);
});

/** Signs in, tolerating that the landing page itself fails upstream. */
async function signedInWithoutLanding(stack: Stack) {
  const browser = stack.browser();
  await browser.login(stack.appUrl('/'), 'alice');
  assert.ok(browser.getCookie('gatehouse_session_app', stack.origin), 'signed in');
  return browser;
}

test(
  'upstream TLS is verified by default; a CA file or turning validation off admits a private certificate',
  { skip: openssl.skip },
  async (t) => {
    const tls = selfSignedCertificate();
    t.after(() => tls.cleanup());
    const server = https.createServer({ key: tls.key, cert: tls.cert }, (_req, res) =>
      res.end('secure app'),
    );
    const port = await listen(server);
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const internal = `https://127.0.0.1:${port}`;

    const strict = await startStack({ app: { internal_host: internal } });
    t.after(() => strict.close());
    const trusting = await startStack({
      app: { internal_host: internal, internal_host_ca_file: tls.certFile },
    });
    t.after(() => trusting.close());
    const lax = await startStack({
      app: { internal_host: internal, internal_host_ssl_validation: false },
    });
    t.after(() => lax.close());

    const refused = await (await signedInWithoutLanding(strict)).request(strict.appUrl('/'));
    const withCa = await (await signedInWithoutLanding(trusting)).request(trusting.appUrl('/'));
    const withoutValidation = await (await signedInWithoutLanding(lax)).request(lax.appUrl('/'));

    assert.equal(refused.status, 502);
    assert.equal(withCa.status, 200);
    assert.equal(withCa.body, 'secure app');
    assert.equal(withoutValidation.status, 200);
  },
);

test('custom headers and Basic credentials reach the application; forged copies of them do not', async (t) => {
  const stack = await startStack({
    app: {
      custom_headers: { 'X-Team': 'team-{groups}' },
      basic_auth_enabled: true,
      basic_auth_user_attribute: 'preferred_username',
      basic_auth_password_attribute: 'email',
    },
  });
  t.after(() => stack.close());
  const browser = await signedIn(stack);

  await browser.request(stack.appUrl('/custom'), {
    headers: { 'x-team': 'root', x_team: 'root', authorization: 'Basic cm9vdDpyb290' },
  });

  const seen = stack.whoami.requests.at(-1)!;
  assert.equal(seen.headers['x-team'], 'team-admins,staff');
  assert.equal(seen.headers.x_team, undefined);
  assert.equal(
    seen.headers.authorization,
    `Basic ${Buffer.from('alice:alice@example.com').toString('base64')}`,
  );
});
