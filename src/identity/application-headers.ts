/**
 * Everything an application receives about the person: its header sets, its custom headers
 * from claim templates, Basic credentials from two claims, and authentik's `additionalHeaders`,
 * with group lists bounded so the request stays within what servers accept.
 * @module
 */
import type { ApplicationConfig } from '../config/schema.ts';
import type { Claims } from '../session/record.ts';
import {
  emptyIdentityHeaders,
  headerSafe,
  identityHeaders,
  type HeaderContext,
  type Identity,
  type IdentityHeaders,
} from './header-sets.ts';

export type HeadersFor = Pick<
  ApplicationConfig,
  | 'header_sets'
  | 'custom_headers'
  | 'basic_auth_enabled'
  | 'basic_auth_user_attribute'
  | 'basic_auth_password_attribute'
  | 'max_groups_header_bytes'
>;

export type BuiltHeaders = { headers: IdentityHeaders; droppedGroups: number };

export function applicationHeaders(
  app: HeadersFor,
  identity: Identity,
  context: HeaderContext,
): BuiltHeaders {
  const { claims, droppedGroups } = boundGroups(identity.claims, app.max_groups_header_bytes);
  const headers = identityHeaders(app.header_sets, { ...identity, claims }, context);

  for (const [name, template] of Object.entries(app.custom_headers)) {
    headers[name] = headerSafe(render(template, claims));
  }
  const basic = basicCredentials(app, claims);
  if (basic) headers.Authorization = basic;
  for (const [name, value] of Object.entries(additionalHeaders(claims))) {
    // Claims from the provider may add headers, never replace the identity ones.
    if (!hasHeader(headers, name)) headers[name] = headerSafe(value);
  }
  return { headers, droppedGroups };
}

/** The headers of an allow without identity: every name present, every value empty. */
export function emptyApplicationHeaders(app: HeadersFor): IdentityHeaders {
  const headers = emptyIdentityHeaders(app.header_sets);
  for (const name of Object.keys(app.custom_headers)) headers[name] = '';
  return headers;
}

function boundGroups(claims: Claims, maxBytes: number): { claims: Claims; droppedGroups: number } {
  if (!Array.isArray(claims.groups)) return { claims, droppedGroups: 0 };
  const kept: string[] = [];
  let bytes = 0;
  for (const group of claims.groups) {
    if (typeof group !== 'string') continue;
    const cost = Buffer.byteLength(group) + (kept.length ? 1 : 0);
    if (bytes + cost > maxBytes) break;
    kept.push(group);
    bytes += cost;
  }
  const total = claims.groups.filter((group) => typeof group === 'string').length;
  return { claims: { ...claims, groups: kept }, droppedGroups: total - kept.length };
}

/** `{claim}` and `{claim.nested}` placeholders; lists are joined with commas, missing are empty. */
function render(template: string, claims: Claims): string {
  return template.replace(/\{([A-Za-z0-9_.:-]+)\}/g, (_match, path: string) => {
    let value: unknown = claims;
    for (const part of path.split('.')) {
      value =
        value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (Array.isArray(value)) return value.filter((item) => typeof item !== 'object').join(',');
    return value === undefined || value === null || typeof value === 'object' ? '' : String(value);
  });
}

function basicCredentials(app: HeadersFor, claims: Claims): string | undefined {
  if (!app.basic_auth_enabled) return undefined;
  const user = attribute(claims, app.basic_auth_user_attribute) ?? attribute(claims, 'email');
  const password = attribute(claims, app.basic_auth_password_attribute);
  if (user === undefined || password === undefined) return undefined;
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** A claim, or an attribute authentik passes under `ak_proxy.user_attributes`. */
function attribute(claims: Claims, name: string): string | undefined {
  if (!name) return undefined;
  const direct = claims[name];
  if (typeof direct === 'string') return direct;
  const nested = userAttributes(claims)[name];
  return typeof nested === 'string' ? nested : undefined;
}

function userAttributes(claims: Claims): Record<string, unknown> {
  const proxy = claims.ak_proxy;
  if (!proxy || typeof proxy !== 'object') return {};
  const attributes = (proxy as Record<string, unknown>).user_attributes;
  return attributes && typeof attributes === 'object'
    ? (attributes as Record<string, unknown>)
    : {};
}

function additionalHeaders(claims: Claims): Record<string, string> {
  const extra = userAttributes(claims).additionalHeaders;
  if (!extra || typeof extra !== 'object') return {};
  return Object.fromEntries(
    Object.entries(extra as Record<string, unknown>).filter(
      (entry): entry is [string, string] =>
        /^[A-Za-z0-9-]+$/.test(entry[0]) && typeof entry[1] === 'string',
    ),
  );
}

function hasHeader(headers: IdentityHeaders, name: string): boolean {
  const lower = name.toLowerCase();
  return Object.keys(headers).some((existing) => existing.toLowerCase() === lower);
}
