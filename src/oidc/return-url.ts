/**
 * The one validator for return targets: `rd` at `/start` and `/sign_out`, the URL a login starts
 * for, and the `Location` the nginx flavour answers with. A target is kept only when it stays on
 * the application's own origin (or, for domain-level sign-in, a host on its cookie domain) and is
 * not one of Gatehouse's own endpoints; anything else becomes the application's root. Only this
 * module makes a `ReturnUrl`, so a login flow cannot be started for an unchecked target.
 * @module
 */
import { canonicalPath } from '../gate/canonical-path.ts';
import type { Application } from '../server/application.ts';

declare const checked: unique symbol;

/** An absolute URL that passed `resolveReturnUrl` for its application. */
export type ReturnUrl = string & { readonly [checked]: true };

const MAX_LENGTH = 2048;
/** Percent-decoding rounds before a target counts as hostile: real URLs need one or two. */
const MAX_DECODE_ROUNDS = 4;
/** Whitespace, C0 and C1 controls, DEL and backslash: URL parsers strip or reinterpret them. */
const UNSAFE =
  /[\u0000-\u0020\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff\\]/;

export function resolveReturnUrl(target: string | null | undefined, app: Application): ReturnUrl {
  const root = `${app.origin.origin}/` as ReturnUrl;
  if (!target || target.length > MAX_LENGTH) return root;
  const url = parseTarget(target, app);
  if (!url || !allowedOrigin(url, app) || isOwnEndpoint(url, app)) return root;
  return url.href as ReturnUrl;
}

function parseTarget(target: string, app: Application): URL | undefined {
  // Whitespace and control characters are stripped by the URL parser, and a backslash is read as
  // a slash: `/\evil.example` and `/\t/evil.example` would both leave the site. Checking every
  // decoded form stops `/%5Cevil.example` and `/%252F%252Fevil.example` meeting a decoder later.
  // The query and fragment cannot move the target to another host, and searches carry `%20`.
  if (UNSAFE.test(target)) return undefined;
  const decoded = decodedForms(target.split(/[?#]/, 1)[0]!);
  if (!decoded || decoded.some((form) => UNSAFE.test(form))) return undefined;

  if (target.startsWith('/')) {
    // `//evil.example` is protocol-relative: another host, in any decoded form.
    if (decoded.some((form) => form.startsWith('//'))) return undefined;
    const url = URL.parse(target, app.origin.origin);
    return url && url.origin === app.origin.origin ? url : undefined;
  }

  const url = URL.parse(target);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  // `https:evil.example` parses (as a relative reference resolved against nothing) into a host.
  if (!/^https?:\/\//i.test(target)) return undefined;
  if (url.username || url.password) return undefined;
  return url;
}

/**
 * The target and each percent-decoding of it until stable; undefined when the target itself is
 * malformed or never settles. A later round that fails (`%25` decoding to a lone `%`) ends it.
 */
function decodedForms(target: string): string[] | undefined {
  const forms = [target];
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    let next: string;
    try {
      next = decodeURIComponent(forms.at(-1)!);
    } catch {
      return round === 0 ? undefined : forms;
    }
    if (next === forms.at(-1)) return forms;
    forms.push(next);
  }
  return undefined;
}

/**
 * The application's origin exactly, or in `forward_domain` mode a host on the cookie domain on a
 * dot boundary (`evil-example.com` is not under `example.com`) with the external host's scheme
 * and port: another port on the same name may be another service that shares no trust with it.
 */
function allowedOrigin(url: URL, app: Application): boolean {
  if (url.origin === app.origin.origin) return true;
  if (!app.domain || url.protocol !== app.origin.protocol || url.port !== app.origin.port) {
    return false;
  }
  const host = url.hostname;
  return host === app.domain || host.endsWith(`.${app.domain}`);
}

/** Gatehouse's own endpoints, on any host, compared on the canonical path without letter case. */
function isOwnEndpoint(url: URL, app: Application): boolean {
  const canonical = canonicalPath(url.pathname);
  if (!canonical.ok) return true;
  const prefix = app.pathPrefix.toLowerCase();
  return [canonical.path, canonical.rulePath].some((form) => {
    const path = form.toLowerCase();
    return path === prefix || path.startsWith(`${prefix}/`);
  });
}
