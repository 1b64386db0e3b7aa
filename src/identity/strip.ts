import type { IncomingHttpHeaders } from 'node:http';
import { parseCookies } from '../http/cookies.ts';
import { allIdentityHeaderNames } from './header-sets.ts';

/**
 * True for any header a client might use to pass itself off as someone: every identity header of
 * every set, in any letter case and with `_` in place of `-` (some servers treat them alike).
 */
export function isIdentityHeader(name: string): boolean {
  return allIdentityHeaderNames.has(name.toLowerCase().replaceAll('_', '-'));
}

/** The Cookie header without Gatehouse's own cookies, or undefined when nothing is left. */
export function withoutOwnCookies(
  header: IncomingHttpHeaders['cookie'],
  isOwn: (name: string) => boolean,
) {
  if (!header) return undefined;
  const kept: string[] = [];
  for (const [name, values] of parseCookies(header)) {
    if (isOwn(name)) continue;
    for (const value of values) kept.push(`${name}=${value}`);
  }
  return kept.length ? kept.join('; ') : undefined;
}
