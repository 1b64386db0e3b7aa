/**
 * Proxy-mode streaming benchmark: 1 GiB up and 1 GiB down through Gatehouse to the whoami
 * application, and the same directly to whoami as the baseline, all in this one process (the
 * test stack: in-process provider, whoami, Gatehouse). Prints throughput and the peak growth of
 * the process's resident memory during each transfer, sampled every 10 ms.
 *
 * Usage: node bench/proxy-stream.ts [--mib 1024]
 * @module
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

import { startStack } from '../test/support/stack.ts';

const MiB = 1024 * 1024;

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' } } });
const size = Number(values.mib) * MiB;

type Target = { base: string; host: string; cookie?: string };
type Measured = { seconds: number; peakRssGrowth: number };

/** Runs `transfer` while sampling RSS every 10 ms; the growth is over the RSS at the start. */
async function measure(transfer: () => Promise<void>): Promise<Measured> {
  globalThis.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const began = process.hrtime.bigint();
  try {
    await transfer();
  } finally {
    clearInterval(sampler);
  }
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  peak = Math.max(peak, process.memoryUsage().rss);
  return { seconds, peakRssGrowth: peak - start };
}

function requestOptions(target: Target, path: string, method: string): http.RequestOptions {
  const url = new URL(target.base);
  return {
    host: url.hostname,
    port: url.port,
    path,
    method,
    agent: false,
    headers: {
      host: target.host,
      ...(target.cookie ? { cookie: target.cookie } : {}),
      ...(method === 'POST' ? { 'content-type': 'application/octet-stream' } : {}),
    },
  };
}

/** Streams `bytes` bytes as a request body (chunked) and checks the application counted them. */
function upload(target: Target, bytes = size): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(requestOptions(target, '/upload', 'POST'), (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200, body);
          assert.equal(JSON.parse(body).bytes, bytes);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(MiB);
    Readable.from(
      (function* () {
        for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk;
      })(),
    ).pipe(req);
  });
}

/** Reads a `bytes`-byte response body and checks its length. */
function download(target: Target, bytes = size): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(requestOptions(target, `/download?bytes=${bytes}`, 'GET'), (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => (received += chunk.length));
      res.on('error', reject);
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200);
          assert.equal(received, bytes);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function report(label: string, measured: Measured): void {
  const throughput = size / MiB / measured.seconds;
  const growth = measured.peakRssGrowth / MiB;
  console.log(
    `${label.padEnd(32)} ${throughput.toFixed(0).padStart(6)} MiB/s  ` +
      `${measured.seconds.toFixed(2).padStart(6)} s  peak RSS growth ${growth.toFixed(1)} MiB`,
  );
}

const stack = await startStack({ mode: 'proxy' });
try {
  const browser = stack.browser();
  const landed = await browser.login(stack.appUrl('/'), 'alice');
  assert.equal(landed.status, 200, 'sign-in failed');
  const cookie = browser.cookieHeader(stack.origin);

  const proxied: Target = { base: stack.gatehouseUrl, host: new URL(stack.origin).host, cookie };
  const direct: Target = { base: stack.whoami.url, host: new URL(stack.whoami.url).host };

  // Warm up both paths (JIT, sockets, buffers) so the first measured run does not pay for it.
  for (const target of [direct, proxied]) {
    await upload(target, 64 * MiB);
    await download(target, 64 * MiB);
  }

  console.log(
    `proxy-mode streaming, ${size / MiB} MiB each way, Node ${process.version}, ` +
      `client, Gatehouse and whoami in one process`,
  );
  report('upload, direct to whoami', await measure(() => upload(direct)));
  report('upload, through Gatehouse', await measure(() => upload(proxied)));
  report('download, direct to whoami', await measure(() => download(direct)));
  report('download, through Gatehouse', await measure(() => download(proxied)));
} finally {
  await stack.close();
}
