/**
 * Claims to identity headers, per header set. An allow always carries every header of the
 * application's sets, with empty values when there is no identity, so a reverse proxy that copies
 * them overwrites whatever the client sent.
 * @module
 */
import type { HeaderSetName } from '../config/schema.ts';
import type { Claims } from '../session/record.ts';

export type IdentityHeaders = Record<string, string>;

export type Identity = {
  claims: Claims;
  accessToken?: string | undefined;
};

export type HeaderContext = { app: string; provider: string };

type HeaderSet = {
  names: readonly string[];
  build(identity: Identity, context: HeaderContext): IdentityHeaders;
};

const authentik: HeaderSet = {
  names: [
    'X-authentik-username',
    'X-authentik-groups',
    'X-authentik-email',
    'X-authentik-name',
    'X-authentik-uid',
    'X-authentik-jwt',
    'X-authentik-meta-app',
    'X-authentik-meta-provider',
    'X-authentik-meta-outpost',
  ],
  build({ claims, accessToken }, { app, provider }) {
    return {
      'X-authentik-username': username(claims),
      'X-authentik-groups': groups(claims).join('|'),
      'X-authentik-email': text(claims.email),
      'X-authentik-name': text(claims.name),
      'X-authentik-uid': text(claims.sub),
      'X-authentik-jwt': accessToken ?? '',
      'X-authentik-meta-app': app,
      'X-authentik-meta-provider': provider,
      'X-authentik-meta-outpost': 'gatehouse',
    };
  },
};

const oauth2Proxy: HeaderSet = {
  names: [
    'X-Forwarded-User',
    'X-Forwarded-Email',
    'X-Forwarded-Groups',
    'X-Forwarded-Preferred-Username',
    'X-Auth-Request-User',
    'X-Auth-Request-Email',
    'X-Auth-Request-Groups',
    'X-Auth-Request-Preferred-Username',
  ],
  build({ claims }) {
    const user = text(claims.sub);
    const email = text(claims.email);
    const list = groups(claims).join(',');
    const preferred = text(claims.preferred_username);
    return {
      'X-Forwarded-User': user,
      'X-Forwarded-Email': email,
      'X-Forwarded-Groups': list,
      'X-Forwarded-Preferred-Username': preferred,
      'X-Auth-Request-User': user,
      'X-Auth-Request-Email': email,
      'X-Auth-Request-Groups': list,
      'X-Auth-Request-Preferred-Username': preferred,
    };
  },
};

const authelia: HeaderSet = {
  names: ['Remote-User', 'Remote-Groups', 'Remote-Email', 'Remote-Name'],
  build({ claims }) {
    return {
      'Remote-User': username(claims),
      'Remote-Groups': groups(claims).join(','),
      'Remote-Email': text(claims.email),
      'Remote-Name': text(claims.name),
    };
  },
};

const sets: Record<HeaderSetName, HeaderSet> = {
  authentik,
  'oauth2-proxy': oauth2Proxy,
  authelia,
};

export function headerNames(setNames: readonly HeaderSetName[]): string[] {
  return setNames.flatMap((name) => sets[name].names);
}

/** Every identity header name Gatehouse knows, lower-cased, for stripping inbound copies. */
export const allIdentityHeaderNames: ReadonlySet<string> = new Set(
  Object.values(sets).flatMap((set) => set.names.map((name) => name.toLowerCase())),
);

export function identityHeaders(
  setNames: readonly HeaderSetName[],
  identity: Identity,
  context: HeaderContext,
): IdentityHeaders {
  const headers: IdentityHeaders = {};
  for (const name of setNames) {
    for (const [header, value] of Object.entries(sets[name].build(identity, context))) {
      headers[header] = headerSafe(value);
    }
  }
  return headers;
}

/** The headers of an exemption: every name present, every value empty. */
export function emptyIdentityHeaders(setNames: readonly HeaderSetName[]): IdentityHeaders {
  return Object.fromEntries(headerNames(setNames).map((name) => [name, '']));
}

function username(claims: Claims): string {
  return text(claims.preferred_username) || text(claims.email) || text(claims.sub);
}

function groups(claims: Claims): string[] {
  const value = claims.groups;
  if (Array.isArray(value)) return value.filter((group) => typeof group === 'string');
  return typeof value === 'string' && value ? [value] : [];
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/**
 * Node refuses header values outside Latin-1 and control characters end a header line. UTF-8
 * bytes are passed through as Latin-1 code units so names such as "Zoë" or "渡辺" reach the
 * application as UTF-8, and control characters are dropped.
 */
export function headerSafe(value: string): string {
  const clean = value.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '');
  return /^[\u0000-\u007f]*$/.test(clean) ? clean : Buffer.from(clean, 'utf8').toString('latin1');
}
