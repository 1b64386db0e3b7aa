/**
 * A count of sign-ins this browser completed in the last two minutes. A browser that signs in
 * and still arrives without a session is not keeping the session cookie (a cookie domain that
 * does not cover the host, a Secure cookie over http): after two such rounds Gatehouse explains
 * instead of sending it round again.
 *
 * The marker is host-only and not Secure on purpose, so it survives the misconfigurations it
 * detects; it holds nothing but a small number.
 * @module
 */
import { clearCookie, serializeCookie, type CookieJar } from '../http/cookies.ts';

export const SIGN_IN_MARKER_COOKIE = 'gatehouse_signins';
const NAME = SIGN_IN_MARKER_COOKIE;
const WINDOW_SECONDS = 120;
export const MAX_SIGN_INS_WITHOUT_SESSION = 2;

const attributes = { path: '/', httpOnly: true, sameSite: 'Lax' as const };

export function recentSignIns(cookies: CookieJar): number {
  const values = cookies.get(NAME) ?? [];
  return Math.max(0, ...values.map((value) => (/^\d{1,2}$/.test(value) ? Number(value) : 0)));
}

export function markSignIn(cookies: CookieJar): string {
  const count = Math.min(recentSignIns(cookies) + 1, 99);
  return serializeCookie(NAME, String(count), { ...attributes, maxAgeSeconds: WINDOW_SECONDS });
}

export function clearSignIns(): string {
  return clearCookie(NAME, attributes);
}

export function looksLikeCookieLoop(cookies: CookieJar): boolean {
  return recentSignIns(cookies) >= MAX_SIGN_INS_WITHOUT_SESSION;
}
