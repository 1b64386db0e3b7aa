/**
 * One canonical form of a request path for skip rules and access rules. Anything that could make
 * two components disagree about which resource a path names is refused instead of guessed.
 *
 * The input is the request target as the client or reverse proxy sent it, never a WHATWG `URL`'s
 * `pathname`: that parser resolves `..` and `%2e%2e` and reads `\` as `/`, while the application
 * behind Gatehouse receives the raw target, so judging the parsed form would judge another path.
 * @module
 */

export type CanonicalPath =
  | {
      ok: true;
      /** Unreserved characters decoded, repeated slashes collapsed, `;` parameters removed. */
      path: string;
      /**
       * False when servers are known to read the path in more than one way (an encoded `/`, or
       * `;` parameters, which Tomcat and Spring drop and most others keep): such a path is never
       * exempt, and access rules judge it by its most specific reading.
       */
      exemptable: boolean;
      /** `path` with encoded slashes read as slashes: the reading access rules are matched on. */
      rulePath: string;
    }
  /** A path no browser sends and servers read differently: the request gets a 400. */
  | { ok: false; reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const MAX_LENGTH = 8192;

export function canonicalPath(target: string): CanonicalPath {
  if (target.length > MAX_LENGTH) return refuse('path too long');
  const path = target.split('?', 1)[0]!;
  if (!path.startsWith('/')) return refuse('path does not start with /');
  // `//host/x` is read as a host by URL parsers in many applications.
  if (path.startsWith('//')) return refuse('path starts with //');
  // A fragment is never sent by a browser; a server that reads it as part of the path would see
  // a different resource than the part before `#`.
  if (path.includes('#')) return refuse('fragment in request target');
  if (/[\u0000-\u0020\u007f\\]/.test(path)) {
    return refuse('backslash, whitespace or control character in path');
  }
  if (/%(5c|00)/i.test(path)) return refuse('encoded backslash or NUL in path');
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return refuse('malformed percent-encoding');
  if (/%(0[0-9a-f]|1[0-9a-f]|7f)/i.test(path)) return refuse('encoded control character in path');

  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (match, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : match.toUpperCase();
  });
  const hasParameters = decoded.includes(';');
  const hasEncodedSlash = decoded.includes('%2F');

  const segments = normalise(decoded.split('/').slice(1));
  if (!segments.ok) return segments;
  const rule = normalise(decoded.replaceAll('%2F', '/').split('/').slice(1));
  if (!rule.ok) return rule;

  return {
    ok: true,
    path: join(segments.segments, decoded),
    exemptable: !hasParameters && !hasEncodedSlash,
    rulePath: join(rule.segments, decoded),
  };
}

/**
 * Removes empty segments and `;` parameters. Dot segments are refused rather than resolved: a
 * browser resolves them before sending, and an application that does not (Express routing, for
 * one) would serve `/admin/../public/x` from under `/admin`.
 */
function normalise(
  raw: string[],
): { ok: true; segments: string[] } | { ok: false; reason: string } {
  const segments: string[] = [];
  for (const part of raw) {
    const segment = part.split(';', 1)[0]!;
    if (segment === '.' || segment === '..') return refuse('dot segment in path');
    if (segment !== '') segments.push(segment);
  }
  return { ok: true, segments };
}

function join(segments: string[], decoded: string): string {
  const trailing = segments.length && /\/(;[^/]*)?$/.test(decoded) ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
