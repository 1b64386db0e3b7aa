/**
 * Cookie header parsing and Set-Cookie serialisation. Parsing keeps every value of a name, since a
 * browser may send the same name twice (a host-only and a domain cookie) and each must be tried.
 * @module
 */

export type CookieJar = Map<string, string[]>;

export function parseCookies(header: string | string[] | undefined): CookieJar {
  const jar: CookieJar = new Map();
  if (!header) return jar;
  const text = Array.isArray(header) ? header.join('; ') : header;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
      value = value.slice(1, -1);
    if (!name) continue;
    const values = jar.get(name);
    if (values) values.push(value);
    else jar.set(name, [value]);
  }
  return jar;
}

export type CookieAttributes = {
  domain?: string;
  path?: string;
  maxAgeSeconds?: number;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'Lax' | 'Strict' | 'None';
};

export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const parts = [`${name}=${value}`];
  parts.push(`Path=${attributes.path ?? '/'}`);
  if (attributes.domain) parts.push(`Domain=${attributes.domain}`);
  if (attributes.maxAgeSeconds !== undefined) {
    parts.push(`Max-Age=${Math.max(0, Math.floor(attributes.maxAgeSeconds))}`);
    if (attributes.maxAgeSeconds <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  if (attributes.secure) parts.push('Secure');
  if (attributes.httpOnly !== false) parts.push('HttpOnly');
  parts.push(`SameSite=${attributes.sameSite ?? 'Lax'}`);
  return parts.join('; ');
}

export function clearCookie(name: string, attributes: CookieAttributes): string {
  return serializeCookie(name, '', { ...attributes, maxAgeSeconds: 0 });
}
