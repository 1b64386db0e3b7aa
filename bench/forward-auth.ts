/**
 * Forward-auth benchmark: the signed-in check (`GET /outpost.goauthentik.io/auth/traefik` with a
 * session cookie and X-Forwarded-*) against a bare node:http server answering 200, both in child
 * processes of their own and both driven by the same load generator in the same run: `wrk` when
 * it is installed, otherwise a built-in keep-alive client with N connections and a fixed request
 * count. Prints requests per second, p50 and p99 latency, and the ratio Gatehouse / bare.
 *
 * Usage: node bench/forward-auth.ts [--client wrk|builtin] [--connections 50] [--duration 10]
 *        [--requests 100000] [--store sqlite|memory]
 * @module
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';

import { findBinary } from '../test/support/binaries.ts';
import { Browser } from '../test/support/browser.ts';
import { freePort, waitForPort } from '../test/support/ports.ts';
import {
  startTestProvider,
  testClient,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
} from '../test/support/provider.ts';

const PREFIX = '/outpost.goauthentik.io';
const ROOT = new URL('../', import.meta.url);

const { values: options } = parseArgs({
  options: {
    client: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    requests: { type: 'string', default: '100000' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const connections = Number(options.connections);

type Target = { url: string; headers: Record<string, string> };
type Result = { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number };

/** Starts a child process and kills it when this process ends. */
function child(args: string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const started = spawn(process.execPath, [...profile, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.on('exit', () => started.kill());
  return started;
}

async function stop(started: ChildProcess): Promise<void> {
  if (started.exitCode !== null) return;
  started.kill('SIGTERM');
  await once(started, 'exit');
}

const BARE_SERVER = `
const http = require('node:http');
http.createServer((req, res) => { res.writeHead(200); res.end(); })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

/** wrk's `--latency` report: Requests/sec and the 50% and 99% lines. */
async function runWrk(wrk: string, target: Target, seconds: number): Promise<Result> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(target.headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await promisify(execFile)(wrk, [...args, target.url]);
  const number = (pattern: RegExp) => {
    const match = pattern.exec(stdout);
    assert.ok(match, `unexpected wrk output:\n${stdout}`);
    return match;
  };
  const latency = (percent: string) => {
    const [, value, unit] = number(new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s)$`, 'm'));
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit as 'us' | 'ms' | 's'];
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0';
  return {
    requestsPerSecond: Number(number(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    errors: Number(errors),
  };
}

/** `total` GETs over `connections` keep-alive connections, each connection one at a time. */
async function runBuiltin(target: Target, total: number): Promise<Result> {
  const url = new URL(target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = new Float64Array(total);
  let next = 0;
  let errors = 0;

  const one = () =>
    new Promise<void>((resolve, reject) => {
      const began = process.hrtime.bigint();
      const index = next++;
      http
        .get(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            headers: target.headers,
            agent,
          },
          (res) => {
            if (res.statusCode !== 200) errors += 1;
            res.resume();
            res.on('end', () => {
              latencies[index] = Number(process.hrtime.bigint() - began) / 1e6;
              resolve();
            });
          },
        )
        .on('error', reject);
    });
  const worker = async () => {
    while (next < total) await one();
  };

  const began = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  agent.destroy();

  latencies.sort();
  const at = (fraction: number) => latencies[Math.min(total - 1, Math.floor(total * fraction))]!;
  return { requestsPerSecond: total / seconds, p50Ms: at(0.5), p99Ms: at(0.99), errors };
}

const wrk = findBinary('wrk');
const client = options.client ?? (wrk ? 'wrk' : 'builtin');
if (client === 'wrk' && !wrk) {
  console.log('wrk is not installed (Debian: apt-get install wrk); nothing measured.');
  process.exit(0);
}
if (!wrk && options.client === undefined) {
  console.log('wrk is not installed (Debian: apt-get install wrk); using the built-in client.');
}
const seconds = Number(options.duration);
const total = Number(options.requests);
const load = (target: Target, warmUp = false): Promise<Result> =>
  client === 'wrk'
    ? runWrk(wrk!, target, warmUp ? 2 : seconds)
    : runBuiltin(target, warmUp ? Math.ceil(total / 10) : total);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const gatehousePort = await freePort();
const barePort = await freePort();
const appHost = `app.example.test:${gatehousePort}`;
const provider = await startTestProvider([testClient(`http://${appHost}${PREFIX}/callback`)]);
const children: ChildProcess[] = [];

try {
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    [
      `listen: 127.0.0.1:${gatehousePort}`,
      `secret: bench-secret-that-is-at-least-32-bytes-long`,
      `log_level: warn`,
      `session:`,
      `  store: ${options.store}`,
      `  sqlite_path: ./sessions.sqlite`,
      `applications:`,
      `  - name: app`,
      `    mode: forward_single`,
      `    external_host: http://${appHost}`,
      `    oidc:`,
      `      issuer: ${provider.issuer}`,
      `      client_id: ${TEST_CLIENT_ID}`,
      `      client_secret: ${TEST_CLIENT_SECRET}`,
      '',
    ].join('\n'),
  );
  children.push(
    child([new URL('bin/gatehouse.js', ROOT).pathname, 'serve', '--config', config], dir),
  );
  children.push(child(['-e', BARE_SERVER], dir, { PORT: String(barePort) }));
  await waitForPort(gatehousePort);
  await waitForPort(barePort);

  const browser = new Browser();
  await browser.login(`http://${appHost}${PREFIX}/start?rd=%2F`, 'alice');
  const cookie = browser.cookieHeader(`http://${appHost}/`);
  assert.match(cookie, /gatehouse_session_app=/, 'sign-in through the child Gatehouse failed');

  const gatehouse: Target = {
    url: `http://127.0.0.1:${gatehousePort}${PREFIX}/auth/traefik`,
    headers: {
      Cookie: cookie,
      'X-Forwarded-Proto': 'http',
      'X-Forwarded-Host': appHost,
      'X-Forwarded-Uri': '/some/page?q=1',
      'X-Forwarded-Method': 'GET',
    },
  };
  const bare: Target = { url: `http://127.0.0.1:${barePort}/`, headers: gatehouse.headers };
  const check = await new Browser({ headers: {} }).request(gatehouse.url, {
    headers: gatehouse.headers,
  });
  assert.equal(check.status, 200, `the signed-in check answered ${check.status}`);
  assert.equal(check.headers['x-authentik-username'], 'alice');

  console.log(
    `forward-auth check vs bare node:http, Node ${process.version}, ${cpus().length} CPUs, ` +
      `client ${client}, ${connections} connections, ` +
      (client === 'wrk' ? `${seconds} s each` : `${total} requests each`) +
      `, store ${options.store}`,
  );
  const results: Record<string, Result> = {};
  for (const [label, target] of [
    ['bare node:http', bare],
    ['gatehouse /auth/traefik', gatehouse],
  ] as const) {
    await load(target, true);
    const result = await load(target);
    results[label] = result;
    console.log(
      `${label.padEnd(24)} ${result.requestsPerSecond.toFixed(0).padStart(8)} req/s  ` +
        `p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms` +
        (result.errors ? `  (${result.errors} non-200 answers)` : ''),
    );
  }
  const ratio =
    results['gatehouse /auth/traefik']!.requestsPerSecond /
    results['bare node:http']!.requestsPerSecond;
  console.log(`ratio gatehouse / bare: ${ratio.toFixed(2)}`);
} finally {
  for (const started of children) await stop(started);
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
}
