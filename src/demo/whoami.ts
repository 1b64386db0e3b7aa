/**
 * A small application that shows what reaches it: the demo's protected app and the tests'
 * upstream. It records every request, streams bodies without buffering them, and answers
 * with an HTML page (identity headers first) or, when asked, JSON.
 *
 * @module
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';

import { escapeHtml } from './html.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Names and values as they arrived, letter case and repeats kept. */
  rawHeaders: string[];
  /** Filled in once the body has been read to its end. */
  bodyBytes: number;
  remoteAddress: string | undefined;
}

export interface WhoamiOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
}

export interface RunningWhoami {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

const IDENTITY_HEADER = new RegExp(
  '^(x-authentik-.+|x-forwarded-(user|email|groups|preferred-username)' +
    '|x-auth-request-.+|remote-(user|groups|email|name))$',
);

const ZEROS = Buffer.alloc(64 * 1024);

// Limitation: websocket upgrades are refused (the server emits 'upgrade' with no listener);
// an echo endpoint would need a frame codec, which is what `upgrade` handling would add here.
export async function startWhoami(options: WhoamiOptions = {}): Promise<RunningWhoami> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
      remoteAddress: req.socket.remoteAddress,
    };
    requests.push(record);
    respond(req, res, record).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });

  const host = options.host ?? '127.0.0.1';
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  record: RecordedRequest,
): Promise<void> {
  const url = new URL(record.url, 'http://whoami.invalid');

  for await (const chunk of req as AsyncIterable<Buffer>) record.bodyBytes += chunk.length;

  if (url.pathname === '/download' && (req.method === 'GET' || req.method === 'HEAD')) {
    await sendZeros(res, Number(url.searchParams.get('bytes') ?? '0'), req.method === 'HEAD');
    return;
  }
  if (url.pathname === '/upload' && req.method === 'POST') {
    sendJson(res, 200, { bytes: record.bodyBytes });
    return;
  }

  const echo = {
    method: record.method,
    url: record.url,
    headers: record.headers,
    rawHeaders: record.rawHeaders,
  };
  if (url.pathname.startsWith('/json') || wantsJson(req.headers.accept)) {
    sendJson(res, 200, { ...echo, bodyBytes: record.bodyBytes });
    return;
  }

  const html = page(record);
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : html);
}

function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0]?.trim().toLowerCase() ?? '';
  return (
    first.startsWith('application/json') || (accept.includes('json') && !accept.includes('html'))
  );
}

async function sendZeros(res: ServerResponse, bytes: number, headOnly: boolean): Promise<void> {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    sendJson(res, 400, { error: 'bytes must be a non-negative integer' });
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
  if (headOnly) {
    res.end();
    return;
  }

  let left = bytes;
  while (left > 0) {
    const chunk = left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left);
    left -= chunk.length;
    if (!res.write(chunk)) await once(res, 'drain');
  }
  res.end();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function page(record: RecordedRequest): string {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < record.rawHeaders.length; i += 2) {
    pairs.push([record.rawHeaders[i] ?? '', record.rawHeaders[i + 1] ?? '']);
  }
  const identity = pairs.filter(([name]) => IDENTITY_HEADER.test(name.toLowerCase()));
  const rows = (list: Array<[string, string]>): string =>
    list
      .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`)
      .join('\n');

  const identitySection = identity.length
    ? `<table id="identity">\n${rows(identity)}\n</table>`
    : '<p id="identity">No identity headers reached this application.</p>';

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>whoami</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{width:16rem;font-weight:600}
td{font-family:ui-monospace,monospace;word-break:break-all}
h2{margin-top:2rem}</style>
</head>
<body>
<h1>whoami</h1>
<p><code>${escapeHtml(record.method)} ${escapeHtml(record.url)}</code></p>
<h2>Identity</h2>
${identitySection}
<h2>All request headers</h2>
<table id="headers">
${rows(pairs)}
</table>
</body>
</html>
`;
}
