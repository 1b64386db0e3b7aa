/**
 * The one validator for return targets (`rd`). A target is kept only when it stays on the
 * application's own origin (or, for domain-level sign-in, a host on its cookie domain) and is not
 * one of Gatehouse's own endpoints; anything else falls back to the application's root.
 * @module
 */
import type { Application } from '../server/application.ts';

const MAX_LENGTH = 2048;

export function resolveReturnUrl(target: string | null | undefined, app: Application): string {
  const root = `${app.origin.origin}/`;
  if (!target || target.length > MAX_LENGTH) return root;
  const url = parseTarget(target, app);
  if (!url || !allowedOrigin(url, app) || isOwnEndpoint(url, app)) return root;
  return url.href;
}

function parseTarget(target: string, app: Application): URL | undefined {
  // Whitespace and control characters are stripped by the URL parser, and a backslash is read as
  // a slash: `/\evil.example` and `/\t/evil.example` would both leave the site.
  if (/[\u0000-\u0020\u007f\\]/.test(target)) return undefined;

  if (target.startsWith('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(target);
    } catch {
      return undefined;
    }
    // `//evil.example` is protocol-relative: another host.
    if (
      target.startsWith('//') ||
      decoded.startsWith('//') ||
      /[\u0000-\u0020\u007f\\]/.test(decoded)
    ) {
      return undefined;
    }
    return URL.parse(target, app.origin.href) ?? undefined;
  }

  const url = URL.parse(target);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  if (url.username || url.password) return undefined;
  return url;
}

function allowedOrigin(url: URL, app: Application): boolean {
  if (url.origin === app.origin.origin) return true;
  if (!app.domain || url.protocol !== app.origin.protocol) return false;
  const host = url.hostname;
  return host === app.domain || host.endsWith(`.${app.domain}`);
}

function isOwnEndpoint(url: URL, app: Application): boolean {
  const path = url.pathname.toLowerCase();
  const prefix = app.pathPrefix.toLowerCase();
  return path === prefix || path.startsWith(`${prefix}/`);
}
