/**
 * The session cookie: an opaque random id and a short tag that proves Gatehouse issued it. The tag
 * lets garbage, truncated values and cookies minted under another secret fail without a store read.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { clearCookie, serializeCookie, type CookieAttributes } from '../http/cookies.ts';
import { constantTimeEqual, hmac, sha256 } from './keys.ts';

const ID_BYTES = 32;
const TAG_BYTES = 16;

export type SessionCookieSpec = {
  name: string;
  attributes: CookieAttributes;
};

/** True for the session cookie of any application (the names follow one scheme). */
export function isSessionCookieName(name: string): boolean {
  return /^(__Host-)?gatehouse_session_/.test(name);
}

/** Cookie name and attributes for an application, from its external host and cookie domain. */
export function sessionCookieSpec(app: {
  name: string;
  external_host: string;
  cookie_domain?: string | undefined;
}): SessionCookieSpec {
  const secure = new URL(app.external_host).protocol === 'https:';
  const domain = app.cookie_domain || undefined;
  // The __Host- prefix makes the browser refuse the cookie from a sibling subdomain or over http.
  const prefix = secure && !domain ? '__Host-' : '';
  return {
    name: `${prefix}gatehouse_session_${app.name}`,
    attributes: { secure, domain, path: '/', httpOnly: true, sameSite: 'Lax' },
  };
}

export function newSessionId(key: Buffer): { cookieValue: string; storeKey: string } {
  const id = randomBytes(ID_BYTES).toString('base64url');
  const tag = hmac(key, id, TAG_BYTES).toString('base64url');
  return { cookieValue: `${id}.${tag}`, storeKey: sha256(id) };
}

/** Cookie values already verified, per key: the hot path then skips two hash computations. */
const verified = new WeakMap<Buffer, Map<string, string>>();
const VERIFIED_MEMO_SIZE = 10_000;

/** The store key for a cookie value, or undefined when the value is not one Gatehouse issued. */
export function storeKeyOf(key: Buffer, cookieValue: string): string | undefined {
  let memo = verified.get(key);
  const known = memo?.get(cookieValue);
  if (known) return known;

  const storeKey = verifyCookieValue(key, cookieValue);
  if (!storeKey) return undefined;
  if (!memo) verified.set(key, (memo = new Map()));
  if (memo.size >= VERIFIED_MEMO_SIZE) memo.delete(memo.keys().next().value!);
  memo.set(cookieValue, storeKey);
  return storeKey;
}

function verifyCookieValue(key: Buffer, cookieValue: string): string | undefined {
  const dot = cookieValue.indexOf('.');
  if (dot !== 43 || cookieValue.length !== 43 + 1 + 22) return undefined;
  const id = cookieValue.slice(0, dot);
  // Compared as text: decoding would ignore the last character's spare bits and accept
  // several spellings of one cookie.
  const tag = Buffer.from(cookieValue.slice(dot + 1));
  const expected = Buffer.from(hmac(key, id, TAG_BYTES).toString('base64url'));
  if (!constantTimeEqual(tag, expected)) return undefined;
  return sha256(id);
}

export function setSessionCookie(spec: SessionCookieSpec, value: string, maxAgeSeconds: number) {
  return serializeCookie(spec.name, value, { ...spec.attributes, maxAgeSeconds });
}

export function clearSessionCookie(spec: SessionCookieSpec): string {
  return clearCookie(spec.name, spec.attributes);
}
