import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { ConfigError, parseConfig, type ConfigProblem } from '../../src/config/load.ts';

const FILE = 'gatehouse.yaml';
const ENV = { GATEHOUSE_SECRET: 'a-secret-of-at-least-thirty-two-bytes!' };

/**
 * A valid configuration; each test changes one line. The line numbers the tests expect are
 * those of this text: keep the layout.
 */
const VALID = `listen: 127.0.0.1:9000
secret: \${GATEHOUSE_SECRET}
session:
  store: memory
  lifetime: 24h
applications:
  - name: whoami
    mode: proxy
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:8080
    skip_path_regex: ['^/public/']
    oidc:
      issuer: https://idp.example.com/application/o/whoami/
      client_id: whoami
      client_secret: whoami-client-secret
`;

function edit(from: string, to: string): string {
  assert.ok(VALID.includes(from), `the base config has no ${from}`);
  return VALID.replace(from, to);
}

function problemsOf(text: string, env: NodeJS.ProcessEnv = ENV): ConfigProblem[] {
  try {
    parseConfig(text, FILE, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

/** The problems as `LINE:COL message`, which is what an operator reads. */
function located(text: string, env?: NodeJS.ProcessEnv): string[] {
  return problemsOf(text, env).map((problem) => {
    assert.equal(problem.file, FILE);
    return `${problem.line}:${problem.col} ${problem.message}`;
  });
}

test('the base configuration is valid and ${VAR} is replaced from the environment', () => {
  const { config, warnings } = parseConfig(VALID, FILE, ENV);

  assert.equal(config.secret, ENV.GATEHOUSE_SECRET);
  assert.deepEqual(warnings, []);
});

test('${VAR} is replaced inside a longer value, and several in one value', () => {
  const text = edit(
    'issuer: https://idp.example.com/application/o/whoami/',
    'issuer: https://${IDP_HOST}:${IDP_PORT}/application/o/whoami/',
  );

  const { config } = parseConfig(text, FILE, {
    ...ENV,
    IDP_HOST: 'sso.example.org',
    IDP_PORT: '8443',
  });

  assert.equal(
    config.applications[0]!.oidc.issuer,
    'https://sso.example.org:8443/application/o/whoami/',
  );
});

test('a relative sqlite_path is resolved against the config file folder', () => {
  const text = edit(
    '  store: memory\n',
    '  store: sqlite\n  sqlite_path: ./data/sessions.sqlite\n',
  );

  const { config } = parseConfig(text, join('etc', 'gatehouse', FILE), ENV);

  assert.equal(
    config.session.sqlite_path,
    join(process.cwd(), 'etc', 'gatehouse', 'data', 'sessions.sqlite'),
  );
});

test('an unknown key is reported at the key, top level and nested', () => {
  assert.deepEqual(located(edit('listen:', 'colour: blue\nlisten:')), ['1:1 unknown key colour']);
  assert.deepEqual(located(edit('  lifetime: 24h', '  lifetme: 24h')), [
    '5:3 unknown key lifetme in session',
  ]);
  assert.deepEqual(located(edit('    mode: proxy', '    mdoe: proxy')), [
    '8:5 unknown key mdoe in applications.0',
  ]);
});

test('a secret under 32 bytes is reported at its value', () => {
  const problems = located(VALID, { GATEHOUSE_SECRET: 'only-31-bytes-long-xxxxxxxxxxxx' });

  assert.deepEqual(problems, ['2:9 secret: secret must be at least 32 bytes long']);
});

test('an http:// issuer is refused unless its host is loopback', () => {
  const remote = edit('issuer: https://idp.example.com/', 'issuer: http://idp.example.com/');
  const loopback = edit('issuer: https://idp.example.com/', 'issuer: http://127.0.0.1:9443/');

  const problems = located(remote);

  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^13:15 applications\.0\.oidc\.issuer: issuer must use https:\/\//);
  assert.doesNotThrow(() => parseConfig(loopback, FILE, ENV));
});

test('a proxy-mode application without internal_host is reported at the application', () => {
  const problems = located(edit('    internal_host: http://127.0.0.1:8080\n', ''));

  assert.deepEqual(problems, [
    '7:5 applications.0.internal_host: internal_host is required when mode is proxy',
  ]);
});

test('an unset ${VAR} is an error at the value that names it', () => {
  const text = edit('client_secret: whoami-client-secret', 'client_secret: ${WHOAMI_SECRET}');

  const problems = located(text);

  assert.ok(
    problems.includes('15:22 environment variable WHOAMI_SECRET is not set'),
    problems.join('\n'),
  );
});

test('an unset ${VAR} is reported once, without a follow-on error about the value it left empty', () => {
  const text = edit('client_secret: whoami-client-secret', 'client_secret: ${WHOAMI_SECRET}');

  assert.deepEqual(located(text), ['15:22 environment variable WHOAMI_SECRET is not set']);
});

test('a YAML syntax error is reported where the parser found it', () => {
  const problems = located(edit('    mode: proxy', '    mode: proxy: forward'));

  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^8:11 /);
});

test('a duration that does not parse is reported at its value', () => {
  assert.deepEqual(located(edit('lifetime: 24h', 'lifetime: 24 hours')), [
    '5:13 session.lifetime: not a duration: 24 hours (use 90s, 5m, 24h)',
  ]);
});

test('an invalid regular expression in skip_path_regex is reported at that entry', () => {
  const problems = located(edit("['^/public/']", "['^/public/', '^/(api']"));

  assert.equal(problems.length, 1);
  assert.match(
    problems[0]!,
    /^11:36 applications\.0\.skip_path_regex\.1: invalid regular expression: .*\/\^\/\(api\//,
  );
});

test('several problems are all reported, in file order', () => {
  const text = edit('listen:', 'colour: blue\nlisten:').replace('24h', 'soon');

  const problems = located(text, { GATEHOUSE_SECRET: 'short' });

  assert.deepEqual(
    problems.map((problem) => problem.split(' ')[0]),
    ['1:1', '3:9', '6:13'],
  );
});

const run = promisify(execFile);

async function gatehouse(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/gatehouse.js', ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function configFile(t: { after(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, FILE);
  writeFileSync(file, text);
  return file;
}

const BROKEN = edit('listen:', 'colour: blue\nlisten:').replace('24h', 'soon');
const BROKEN_LINES = (file: string) => [
  `${file}:1:1 unknown key colour`,
  `${file}:6:13 session.lifetime: not a duration: soon (use 90s, 5m, 24h)`,
];

test('gatehouse check exits 0 on a valid file', async (t) => {
  const file = configFile(t, VALID);

  const result = await gatehouse(['check', '--config', file], ENV);

  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.match(result.stdout, /ok/);
});

test('gatehouse check exits 2 and prints every problem as FILE:LINE:COL message', async (t) => {
  const file = configFile(t, BROKEN);

  const result = await gatehouse(['check', '--config', file], ENV);

  assert.equal(result.code, 2);
  assert.deepEqual(result.stderr.trimEnd().split('\n'), BROKEN_LINES(file));
});

test('gatehouse check names an unset variable with its place in the file', async (t) => {
  const file = configFile(t, VALID);

  const result = await gatehouse(['check', '--config', file], {});

  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    new RegExp(`^${escape(file)}:2:9 environment variable GATEHOUSE_SECRET is not set$`, 'm'),
  );
});

test('gatehouse serve on a broken file exits 2 with the same lines and does not start', async (t) => {
  const file = configFile(t, BROKEN);

  const result = await gatehouse(['serve', '--config', file], ENV);

  assert.equal(result.code, 2);
  assert.deepEqual(result.stderr.trimEnd().split('\n'), BROKEN_LINES(file));
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
