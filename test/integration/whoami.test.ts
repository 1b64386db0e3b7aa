import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { startWhoami } from '../../src/demo/whoami.ts';
import type { RunningWhoami } from '../../src/demo/whoami.ts';
import { Browser } from '../support/browser.ts';

describe('whoami', () => {
  let app: RunningWhoami;
  before(async () => {
    app = await startWhoami();
  });
  after(() => app.close());

  test('a navigation gets an HTML page with the identity headers first', async () => {
    const page = await new Browser().request(`${app.url}/dashboard`, {
      headers: { 'X-authentik-username': 'alice', 'Remote-User': 'alice', 'X-Other': 'x' },
    });

    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.match(page.body, /<title>whoami<\/title>/);
    const identity = page.body.slice(
      page.body.indexOf('id="identity"'),
      page.body.indexOf('id="headers"'),
    );
    assert.match(identity, /X-authentik-username/);
    assert.match(identity, /Remote-User/);
    assert.doesNotMatch(identity, /X-Other/);
  });

  test('Accept: application/json or a /json path gets the request as JSON', async () => {
    const byAccept = await fetch(`${app.url}/anything`, {
      headers: { accept: 'application/json' },
    });
    const byPath = await fetch(`${app.url}/json/here?x=1`, {
      headers: { 'x-authentik-email': 'a@b' },
    });

    assert.equal(((await byAccept.json()) as { url: string }).url, '/anything');
    const echo = (await byPath.json()) as {
      method: string;
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(echo.method, 'GET');
    assert.equal(echo.url, '/json/here?x=1');
    assert.equal(echo.headers['x-authentik-email'], 'a@b');
  });

  test('requests are recorded with raw headers and body sizes', async () => {
    const before = app.requests.length;
    await fetch(`${app.url}/upload`, { method: 'POST', body: new Uint8Array(1_000_000) });

    const recorded = app.requests[before];
    assert.equal(recorded?.method, 'POST');
    assert.equal(recorded?.bodyBytes, 1_000_000);
    assert.ok(recorded?.rawHeaders.includes('content-length'));
  });

  test('/download streams the asked number of bytes and /upload counts them', async () => {
    const download = await fetch(`${app.url}/download?bytes=3000000`);
    assert.equal((await download.arrayBuffer()).byteLength, 3_000_000);

    const upload = await fetch(`${app.url}/upload`, { method: 'POST', body: 'hello' });
    assert.deepEqual(await upload.json(), { bytes: 5 });
  });
});

describe('test browser', () => {
  let url: string;
  const seen: Array<{ method: string; url: string; host: string; cookie: string; body: string }> =
    [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req as AsyncIterable<Buffer>) body += chunk.toString();
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      host: req.headers.host ?? '',
      cookie: req.headers.cookie ?? '',
      body,
    });
    const status = Number(/^\/redirect\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
    if (status !== 200) {
      res.writeHead(status, { location: '/done', 'set-cookie': ['hop=1; Path=/'] }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://app.localhost:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('made-up host names reach 127.0.0.1 with their own Host header', async () => {
    await new Browser().request(`${url}/`);
    assert.equal(seen.at(-1)?.host, new URL(url).host);

    await new Browser().request(`${url}/`, { headers: { Host: 'other.example' } });
    assert.equal(seen.at(-1)?.host, 'other.example');
  });

  test('303 and 302 after a POST become GETs; 307 keeps the method and body', async () => {
    for (const [status, method] of [
      [303, 'GET'],
      [302, 'GET'],
      [307, 'POST'],
      [308, 'POST'],
    ] as const) {
      const browser = new Browser();
      const result = await browser.navigate(`${url}/redirect/${status}`, {
        method: 'POST',
        body: 'b=1',
      });

      assert.equal(result.hops.length, 2);
      assert.equal(seen.at(-1)?.method, method, `after ${status}`);
      assert.equal(seen.at(-1)?.body, method === 'POST' ? 'b=1' : '', `after ${status}`);
      assert.equal(
        seen.at(-1)?.cookie,
        'hop=1',
        'a cookie set on a redirect is sent on the next hop',
      );
    }
  });

  test('submitForm posts the form fields with overrides', async () => {
    const html = `<form method="post" action="/submit?x=1&amp;y=2"><input type="hidden" name="xsrf" value="t&amp;k"><input name="user" value="a"><input type="submit" value="Go"></form>`;
    await new Browser().submitForm(html, `${url}/page`, { user: 'alice' });

    const last = seen.at(-1);
    assert.equal(last?.url, '/submit?x=1&y=2');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(last?.body)), {
      xsrf: 't&k',
      user: 'alice',
    });
  });
});
