/**
 * The configuration file's shape. Key names mirror authentik's proxy provider fields so that its
 * users recognise them; every object is strict, so a misspelt key is an error, not a silent
 * default.
 * @module
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.ts';

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `not a duration: ${String(value)} (use 90s, 5m, 24h)`,
    });
    return z.NEVER;
  }
  return ms;
});

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  if (loopbackHosts.has(hostname) || hostname.endsWith('.localhost')) return true;
  return isIP(hostname) === 4 && hostname.startsWith('127.');
}

const httpUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not a URL: ${value}` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be an http:// or https:// URL: ${value}` });
  }
});

/** An application's public origin: scheme, host and port, nothing else. */
const externalHost = httpUrl.superRefine((value, ctx) => {
  if (!URL.canParse(value)) return;
  const url = new URL(value);
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    ctx.addIssue({ code: 'custom', message: `must be an origin like https://app.example.com` });
  }
});

const issuer = httpUrl.superRefine((value, ctx) => {
  if (!URL.canParse(value)) return;
  const url = new URL(value);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    ctx.addIssue({
      code: 'custom',
      message: `issuer must use https:// (http:// is accepted only on loopback): ${value}`,
    });
  }
});

const regexList = z.array(z.string()).superRefine((patterns, ctx) => {
  patterns.forEach((pattern, index) => {
    try {
      new RegExp(pattern);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        path: [index],
        message: `invalid regular expression: ${(error as Error).message}`,
      });
    }
  });
});

export const headerSetNames = ['authentik', 'oauth2-proxy', 'authelia'] as const;

const oidcSchema = z.strictObject({
  issuer,
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']),
});

/** One claim test: exactly one of `equals`, `in` or `matches` (a regex, anchored as written). */
const claimMatcherSchema = z
  .strictObject({
    claim: z.string().min(1),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    in: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
    matches: z.string().optional(),
  })
  .superRefine((matcher, ctx) => {
    const given = ['equals', 'in', 'matches'].filter(
      (key) => matcher[key as keyof typeof matcher] !== undefined,
    );
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of equals, in or matches' });
    }
    if (matcher.matches !== undefined) {
      try {
        new RegExp(matcher.matches);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['matches'],
          message: `invalid regular expression: ${(error as Error).message}`,
        });
      }
    }
  });

const admissionLists = {
  groups: z.array(z.string()).default([]),
  emails: z.array(z.string()).default([]),
  email_domains: z.array(z.string()).default([]),
  claims: z.array(claimMatcherSchema).default([]),
};

const accessRuleSchema = z.strictObject({
  path_prefix: z
    .string()
    .refine(
      (prefix) =>
        /^\/[^?#;\\\s]*$/.test(prefix) &&
        !prefix.includes('//') &&
        !prefix.split('/').some((segment) => segment === '.' || segment === '..'),
      'must be a canonical path such as /admin (no //, dot segments, ?, #, ; or \\)',
    )
    .default('/'),
  methods: z
    .array(z.string().regex(/^[A-Za-z]+$/, 'an HTTP method such as GET'))
    .transform((methods) => methods.map((method) => method.toUpperCase()))
    .default([]),
  ...admissionLists,
});

const accessSchema = z.strictObject({
  ...admissionLists,
  rules: z.array(accessRuleSchema).default([]),
});

const applicationSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ . and - only'),
    mode: z.enum(['proxy', 'forward_single', 'forward_domain']).default('forward_single'),
    external_host: externalHost,
    internal_host: httpUrl.optional(),
    internal_host_ssl_validation: z.boolean().default(true),
    internal_host_ca_file: z.string().optional(),
    pass_host_header: z.boolean().default(true),
    upstream_timeout: duration.default(60_000),
    pass_authorization_header: z.boolean().default(false),
    cookie_domain: z.string().optional(),
    skip_path_regex: regexList.default([]),
    header_sets: z.array(z.enum(headerSetNames)).min(1).default(['authentik']),
    allow_preflight: z.boolean().default(false),
    access: accessSchema.default({
      groups: [],
      emails: [],
      email_domains: [],
      claims: [],
      rules: [],
    }),
    intercept_header_auth: z.boolean().default(false),
    bearer_audience: z.string().min(1).optional(),
    basic_auth_enabled: z.boolean().default(false),
    basic_auth_user_attribute: z.string().default(''),
    basic_auth_password_attribute: z.string().default(''),
    custom_headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), z.string())
      .default({}),
    max_groups_header_bytes: z.number().int().min(64).default(2048),
    oidc: oidcSchema,
  })
  .superRefine((app, ctx) => {
    if (app.mode === 'proxy' && !app.internal_host) {
      ctx.addIssue({
        code: 'custom',
        path: ['internal_host'],
        message: 'internal_host is required when mode is proxy',
      });
    }
    if (app.mode === 'forward_domain' && !app.cookie_domain) {
      ctx.addIssue({
        code: 'custom',
        path: ['cookie_domain'],
        message: 'cookie_domain is required when mode is forward_domain',
      });
    }
  });

const sessionSchema = z.strictObject({
  store: z.enum(['sqlite', 'memory', 'redis']).default('sqlite'),
  sqlite_path: z.string().default('./data/sessions.sqlite'),
  redis_url: z.string().default('redis://127.0.0.1:6379/0'),
  redis_timeout: duration.default(1000),
  redis_key_prefix: z.string().default('gatehouse:'),
  lifetime: duration.default(24 * 3_600_000),
  idle_timeout: duration.default(8 * 3_600_000),
  revalidate_interval: duration.default(5 * 60_000),
});

const cidr = z.string().superRefine((value, ctx) => {
  const [address, bits, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  const max = family === 6 ? 128 : 32;
  const prefix = bits === undefined ? max : Number(bits);
  if (!family || rest.length || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    ctx.addIssue({ code: 'custom', message: `not an address or CIDR range: ${value}` });
  }
});

export const configSchema = z
  .strictObject({
    listen: z.string().default('127.0.0.1:9000'),
    secret: z.string().refine((value) => Buffer.byteLength(value) >= 32, {
      message: 'secret must be at least 32 bytes long',
    }),
    path_prefix: z
      .string()
      .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'must look like /outpost.goauthentik.io')
      .default('/outpost.goauthentik.io'),
    trusted_proxies: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
    clock_leeway: duration.default(60_000),
    log_level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      .default('info'),
    session: sessionSchema.prefault({}),
    applications: z.array(applicationSchema).min(1, 'at least one application is required'),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.applications.forEach((app, index) => {
      const host = new URL(app.external_host).host;
      if (seen.has(host)) {
        ctx.addIssue({
          code: 'custom',
          path: ['applications', index, 'external_host'],
          message: `external_host ${host} is already used by applications[${seen.get(host)}]`,
        });
      }
      seen.set(host, index);
    });
  });

export type Config = z.output<typeof configSchema>;
export type ApplicationConfig = Config['applications'][number];
export type HeaderSetName = (typeof headerSetNames)[number];
