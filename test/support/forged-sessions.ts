/**
 * Session cookies that must not admit anyone: the broken, forged and misplaced values a browser
 * or an attacker can present, each built from a real signed-in session so that the only thing
 * wrong with it is the one thing its name says.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

import type { Browser } from './browser.ts';
import type { SessionStore } from '../../src/session/record.ts';
import { deriveKeys } from '../../src/session/keys.ts';
import { newSessionId, storeKeyOf } from '../../src/session/session-cookie.ts';
import { SECRET } from './stack.ts';

export const OTHER_SECRET = 'another-secret-that-is-also-32-bytes-or-more';

export type ForgeContext = {
  /** The session cookie value a real sign-in produced. */
  valid: string;
  store: SessionStore;
};

/** A bad value of the session cookie, or several: each value is sent under the cookie's name. */
export type BrokenCookie = {
  name: string;
  values(context: ForgeContext): Promise<string[]>;
};

/** Stores a copy of the real session under a new id minted with `secret`, changed by `change`. */
async function copySession(
  context: ForgeContext,
  secret: string,
  change: { app?: string } = {},
): Promise<string> {
  const key = storeKeyOf(deriveKeys(SECRET).cookieTag, context.valid);
  const record = key ? await context.store.get(key) : undefined;
  if (!record) throw new Error('the signed-in session is not in the store');
  const minted = newSessionId(deriveKeys(secret).cookieTag);
  await context.store.put({ ...record, ...change, key: minted.storeKey });
  return minted.cookieValue;
}

/** The value with the tag's first character changed (the last one carries padding bits). */
function tamperTag(value: string): string {
  const dot = value.indexOf('.');
  const changed = value[dot + 1] === 'A' ? 'B' : 'A';
  return `${value.slice(0, dot + 1)}${changed}${value.slice(dot + 2)}`;
}

export const BROKEN_COOKIES: readonly BrokenCookie[] = [
  { name: 'an empty value', values: async () => [''] },
  { name: 'random bytes', values: async () => [randomBytes(48).toString('base64')] },
  {
    name: 'random bytes shaped like a session cookie',
    values: async () => [
      `${randomBytes(32).toString('base64url')}.${randomBytes(16).toString('base64url')}`,
    ],
  },
  { name: 'a truncated value', values: async ({ valid }) => [valid.slice(0, -3)] },
  { name: 'the id without its tag', values: async ({ valid }) => [valid.split('.')[0]!] },
  { name: 'a tampered tag', values: async ({ valid }) => [tamperTag(valid)] },
  {
    // The record it names exists: only the tag, minted under another secret, is wrong.
    name: 'a value minted with another secret',
    values: async (context) => [await copySession(context, OTHER_SECRET)],
  },
  {
    name: 'a session of another application',
    values: async (context) => [await copySession(context, SECRET, { app: 'other-app' })],
  },
  {
    name: 'the name twice with two bad values',
    values: async ({ valid }) => ['', valid.slice(0, -3)],
  },
];

/**
 * Puts `values` in the browser as the cookie `name` for `url`, replacing what it held. Two values
 * go in under two paths (the first under the URL's first path segment), so the browser sends
 * both, that one first, as it does with real duplicates.
 */
export function plantCookie(
  browser: Browser,
  url: string,
  name: string,
  values: readonly string[],
): void {
  if (values.length > 2) throw new Error('plantCookie takes one or two values');
  browser.deleteCookie(name);
  const [first, second] = values;
  if (second === undefined) {
    browser.setCookie(name, first ?? '', url, { path: '/', httpOnly: true });
    return;
  }
  const segment = `/${new URL(url).pathname.split('/')[1] ?? ''}`;
  if (segment === '/') throw new Error(`${url} has no first path segment to hold a second cookie`);
  browser.setCookie(name, first ?? '', url, { path: segment, httpOnly: true });
  browser.setCookie(name, second, url, { path: '/', httpOnly: true });
}
