/**
 * The README cannot drift from the code: it shows the example files byte for byte, its key
 * table names exactly the schema's keys, its example configuration loads, and the Traefik and
 * Envoy examples have the shape the replay in test/support/forward-frontends.ts assumes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';

import { parseConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { headerNames } from '../../src/identity/header-sets.ts';
import { ENVOY_ALLOWED_HEADERS } from '../support/forward-frontends.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const readme = read('README.md');

const EXAMPLES = [
  'examples/nginx/app.conf',
  'examples/caddy/Caddyfile',
  'examples/caddy/Caddyfile.domain',
  'examples/traefik/dynamic.yml',
  'examples/traefik/traefik.yml',
  'examples/envoy/envoy.yaml',
];

const AUTHENTIK_HEADERS = headerNames(['authentik']);

/** The text of a README section: from its heading to the next heading of its level or above. */
function section(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no "${heading}" heading`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level}} `, 'm'));
  return end < 0 ? rest : rest.slice(0, end);
}

/** Dotted key paths of the schema (`applications[].oidc.issuer`), objects included. */
function schemaKeys(schema: z.ZodType, prefix = ''): string[] {
  if (
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodOptional
  )
    return schemaKeys(schema.unwrap() as z.ZodType, prefix);
  if (schema instanceof z.ZodPipe) return schemaKeys(schema.in as z.ZodType, prefix);
  if (schema instanceof z.ZodArray) return schemaKeys(schema.element as z.ZodType, `${prefix}[]`);
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...schemaKeys(value as z.ZodType, path)];
  });
}

/** Keys whose value is a mapping: documented through their children. */
const MAPPING_KEYS = new Set(['session', 'applications[].access', 'applications[].oidc']);

function tableKeys(): string[] {
  return [...section('### Keys').matchAll(/^\| `([a-z_.[\]]+)` \|/gm)].map((match) => match[1]!);
}

function patterns(list: { patterns: { exact: string }[] }): string[] {
  return list.patterns.map((pattern) => pattern.exact.toLowerCase());
}

describe('README', () => {
  for (const file of EXAMPLES) {
    test(`shows ${file} exactly as the file reads`, () => {
      assert.ok(readme.includes(read(file)), `${file} differs from its copy in README.md`);
    });
  }

  test('every key in the key table exists in the configuration schema', () => {
    const known = new Set(schemaKeys(configSchema));
    const documented = tableKeys();
    assert.ok(documented.length > 20, 'the key table was not found');
    for (const key of documented) assert.ok(known.has(key), `README documents unknown key ${key}`);
  });

  test('every key of the configuration schema is in the key table', () => {
    const documented = new Set(tableKeys());
    const missing = schemaKeys(configSchema).filter(
      (key) => !MAPPING_KEYS.has(key) && !documented.has(key),
    );
    assert.deepEqual(missing, [], 'keys missing from the README key table');
  });

  test('the example configuration loads without errors or warnings', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(section('## Configuration'))?.[1];
    assert.ok(example, 'no yaml block under "## Configuration"');
    const env = {
      GATEHOUSE_SECRET: 'a-secret-that-is-comfortably-over-32-bytes',
      WHOAMI_CLIENT_SECRET: 'whoami-secret',
      INTRANET_CLIENT_SECRET: 'intranet-secret',
    };
    const { config, warnings } = parseConfig(example, 'README.md', env);
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      config.applications.map((app) => app.mode),
      ['proxy', 'forward_domain'],
    );
  });
});

describe('the Traefik example', () => {
  const dynamic = parse(read('examples/traefik/dynamic.yml'));
  const forwardAuth = dynamic.http.middlewares.gatehouse.forwardAuth;

  test('asks the traefik flavour and does not trust the client X-Forwarded-* headers', () => {
    assert.match(new URL(forwardAuth.address).pathname, /\/auth\/traefik$/);
    assert.equal(forwardAuth.trustForwardHeader, false);
  });

  test('copies all nine authentik headers from the answer', () => {
    assert.deepEqual(
      [...forwardAuth.authResponseHeaders].map((name: string) => name.toLowerCase()).sort(),
      AUTHENTIK_HEADERS.map((name) => name.toLowerCase()).sort(),
    );
  });

  test("sends the prefix's paths to Gatehouse without the check", () => {
    const routers = Object.values(dynamic.http.routers) as {
      rule: string;
      service: string;
      middlewares?: string[];
      priority: number;
    }[];
    const outpost = routers.find((router) => router.rule.includes('PathPrefix'));
    const app = routers.find((router) => router.middlewares?.includes('gatehouse'));
    assert.ok(outpost && app);
    assert.match(outpost.rule, /PathPrefix\(`\/outpost\.goauthentik\.io\/`\)/);
    assert.equal(outpost.service, 'gatehouse');
    assert.equal(outpost.middlewares, undefined);
    assert.ok(outpost.priority > app.priority);
  });

  test('the static configuration drops aliases of identity header names', () => {
    const staticConfig = parse(read('examples/traefik/traefik.yml'));
    for (const entryPoint of Object.values(staticConfig.entryPoints) as {
      http: { aliasHeadersStrategy: string };
    }[]) {
      assert.equal(entryPoint.http.aliasHeadersStrategy, 'delete');
    }
  });
});

describe('the Envoy example', () => {
  const envoy = parse(read('examples/envoy/envoy.yaml'));
  const manager = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const extAuthz = manager.http_filters.find(
    (filter: { name: string }) => filter.name === 'envoy.filters.http.ext_authz',
  ).typed_config;

  test('asks the envoy flavour and never allows on failure', () => {
    assert.match(extAuthz.http_service.path_prefix, /\/auth\/envoy$/);
    assert.equal(extAuthz.failure_mode_allow, false);
  });

  test('sends Gatehouse exactly the headers the replay sends', () => {
    const allowed = patterns(extAuthz.allowed_headers);
    for (const name of ['cookie', 'accept', 'sec-fetch-mode']) assert.ok(allowed.includes(name));
    assert.deepEqual([...allowed].sort(), [...ENVOY_ALLOWED_HEADERS].sort());
  });

  test('copies all nine authentik headers upstream and the login answer to the browser', () => {
    const response = extAuthz.http_service.authorization_response;
    assert.deepEqual(
      patterns(response.allowed_upstream_headers).sort(),
      AUTHENTIK_HEADERS.map((name) => name.toLowerCase()).sort(),
    );
    const client = patterns(response.allowed_client_headers);
    for (const name of ['location', 'set-cookie']) assert.ok(client.includes(name));
  });

  test("routes the prefix's paths to Gatehouse without the check", () => {
    const routes = manager.route_config.virtual_hosts[0].routes;
    const outpost = routes.find(
      (route: { match: { prefix: string } }) => route.match.prefix === '/outpost.goauthentik.io/',
    );
    assert.equal(outpost.route.cluster, 'gatehouse');
    assert.equal(outpost.typed_per_filter_config['envoy.filters.http.ext_authz'].disabled, true);
    assert.equal(extAuthz.http_service.server_uri.cluster, 'gatehouse');
  });

  test('refuses header names with underscores', () => {
    assert.equal(
      manager.common_http_protocol_options.headers_with_underscores_action,
      'REJECT_REQUEST',
    );
  });
});
