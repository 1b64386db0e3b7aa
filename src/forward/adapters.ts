/**
 * One adapter per reverse proxy: each turns that proxy's way of describing the original request
 * into one `OriginalRequest`, or says why it cannot.
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { OriginalRequest } from '../gate/original-request.ts';

export type Flavour = 'traefik' | 'caddy' | 'nginx' | 'envoy';

export type Adapted = { ok: true; request: OriginalRequest } | { ok: false; reason: string };

export function adapt(flavour: Flavour, req: IncomingMessage, rest: string): Adapted {
  switch (flavour) {
    case 'traefik':
    case 'caddy':
      return fromForwardedHeaders(req.headers);
    case 'nginx':
      return fromOriginalUrl(req.headers);
    case 'envoy':
      return fromEnvoyPath(req, rest);
  }
}

/** Traefik `forwardAuth` and Caddy `forward_auth`: X-Forwarded-Proto, -Host, -Uri, -Method. */
function fromForwardedHeaders(headers: IncomingHttpHeaders): Adapted {
  const proto = single(headers['x-forwarded-proto']);
  const host = single(headers['x-forwarded-host']) ?? single(headers.host);
  // A list means a chain of proxies appended to it; which entry is the original is unknowable.
  if (proto?.includes(',') || host?.includes(','))
    return { ok: false, reason: 'forwarded header holds a list' };
  const uri = single(headers['x-forwarded-uri']) ?? '/';
  const method = single(headers['x-forwarded-method']) ?? 'GET';
  if (!proto) return { ok: false, reason: 'X-Forwarded-Proto missing' };
  if (!host) return { ok: false, reason: 'X-Forwarded-Host missing' };
  return build(method, `${proto}://${host}`, uri, headers);
}

/** nginx `auth_request`: X-Original-URL, or X-Original-URI with the Host header. */
function fromOriginalUrl(headers: IncomingHttpHeaders): Adapted {
  const method = single(headers['x-original-method']) ?? 'GET';
  const full = single(headers['x-original-url']);
  if (full) {
    const url = URL.parse(full);
    if (!url) return { ok: false, reason: 'X-Original-URL is not a URL' };
    return build(method, url.origin, `${url.pathname}${url.search}`, headers);
  }
  const uri = single(headers['x-original-uri']);
  const host = single(headers['x-forwarded-host']) ?? single(headers.host);
  const proto = single(headers['x-forwarded-proto']) ?? 'http';
  if (!uri || !host)
    return { ok: false, reason: 'X-Original-URL (or X-Original-URI and Host) missing' };
  return build(method, `${proto}://${host}`, uri, headers);
}

/** Envoy `ext_authz` over HTTP: the original path and query follow the check path's prefix. */
function fromEnvoyPath(req: IncomingMessage, rest: string): Adapted {
  const headers = req.headers;
  const host = single(headers[':authority']) ?? single(headers.host);
  const proto = single(headers['x-forwarded-proto']) ?? 'http';
  if (!host) return { ok: false, reason: 'Host missing' };
  return build(req.method ?? 'GET', `${proto}://${host}`, rest || '/', headers);
}

function build(
  method: string,
  origin: string,
  pathAndQuery: string,
  headers: IncomingHttpHeaders,
): Adapted {
  if (!/^[A-Z]{3,10}$/.test(method)) return { ok: false, reason: `unusable method ${method}` };
  const parts = /^(https?):\/\/(.*)$/i.exec(origin);
  if (!parts) return { ok: false, reason: `unusable scheme in ${origin}` };
  // A forwarded host is a name or address with an optional port, nothing more: `a.example@evil`
  // or `a.example/x` would make the URL parser pick a different host than the proxy routed on.
  if (!HOST.test(parts[2]!)) return { ok: false, reason: `unusable host ${parts[2]}` };
  if (!pathAndQuery.startsWith('/') || pathAndQuery.startsWith('//')) {
    return { ok: false, reason: 'original URI must be a path starting with one /' };
  }
  const url = URL.parse(`${parts[1]!.toLowerCase()}://${parts[2]}${pathAndQuery}`);
  if (!url) return { ok: false, reason: `unparseable original URL ${origin}${pathAndQuery}` };
  return { ok: true, request: { method, url, headers } };
}

const HOST = /^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

/** One value of a header; a header that arrived twice is ambiguous and counts as absent. */
function single(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  return text?.trim() || undefined;
}
