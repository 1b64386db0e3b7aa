/**
 * One canonical form of a request path for skip rules and access rules. Anything that could make
 * two components disagree about which resource a path names is refused instead of guessed.
 * @module
 */

export type CanonicalPath = { ok: true; path: string } | { ok: false; reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

export function canonicalPath(rawPath: string): CanonicalPath {
  const path = rawPath.split(/[?#]/, 1)[0] ?? '';
  if (!path.startsWith('/')) return { ok: false, reason: 'path does not start with /' };
  // An encoded slash, backslash or NUL is read differently by different servers: `/public%2F..%2Fadmin`
  // must never count as being under `/public/`.
  if (/%(2f|5c|00)/i.test(path) || path.includes('\\') || path.includes('\0')) {
    return { ok: false, reason: 'encoded separator or NUL in path' };
  }

  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (match, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : match.toUpperCase();
  });
  if (/%(?![0-9A-F]{2})/.test(decoded)) return { ok: false, reason: 'malformed percent-encoding' };

  const segments: string[] = [];
  for (const segment of decoded.split('/').slice(1)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (!segments.length) return { ok: false, reason: 'path escapes the root' };
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  const trailing = decoded.endsWith('/') && segments.length ? '/' : '';
  return { ok: true, path: `/${segments.join('/')}${trailing}` };
}
