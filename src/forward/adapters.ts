/**
 * One adapter per reverse proxy: each turns that proxy's way of describing the original request
 * into one `OriginalRequest`, or says why it cannot. Adapters run only for peers in
 * `trusted_proxies`; every forwarding header they read must arrive exactly once.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { OriginalRequest } from '../gate/original-request.ts';
import { forwardedOrigin, singleHeader } from './forwarded-headers.ts';

export type Flavour = 'traefik' | 'caddy' | 'nginx' | 'envoy';

export type Adapted = { ok: true; request: OriginalRequest } | { ok: false; reason: string };

export function adapt(flavour: Flavour, req: IncomingMessage, rest: string): Adapted {
  switch (flavour) {
    case 'traefik':
    case 'caddy':
      return fromForwardedHeaders(req);
    case 'nginx':
      return fromOriginalUrl(req);
    case 'envoy':
      return fromEnvoyPath(req, rest);
  }
}

/** Traefik `forwardAuth` and Caddy `forward_auth`: X-Forwarded-Proto, -Host, -Uri, -Method. */
function fromForwardedHeaders(req: IncomingMessage): Adapted {
  const read = readHeaders(req, ['x-forwarded-uri', 'x-forwarded-method', 'host']);
  if (!read.ok) return read;
  const origin = forwardedOrigin(req);
  if (!origin.ok) return origin;

  const host = origin.host ?? read.values.host;
  if (!origin.proto) return { ok: false, reason: 'X-Forwarded-Proto missing' };
  if (!host) return { ok: false, reason: 'X-Forwarded-Host missing' };
  const uri = read.values['x-forwarded-uri'] ?? '/';
  const method = read.values['x-forwarded-method'] ?? 'GET';
  return build(method, `${origin.proto}://${host}`, uri, req);
}

/** nginx `auth_request`: X-Original-URL, or X-Original-URI with the Host header. */
function fromOriginalUrl(req: IncomingMessage): Adapted {
  const read = readHeaders(req, ['x-original-method', 'x-original-url', 'x-original-uri', 'host']);
  if (!read.ok) return read;
  const origin = forwardedOrigin(req);
  if (!origin.ok) return origin;
  const method = read.values['x-original-method'] ?? 'GET';

  const full = read.values['x-original-url'];
  if (full) {
    const url = URL.parse(full);
    const raw = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\\]*)(.*)$/.exec(full);
    if (!url || !raw) return { ok: false, reason: 'X-Original-URL is not a URL' };
    // Judged on the authority as written: the URL parser would turn `x@open.example` or
    // `open%2eexample` into a host that nginx never routed on.
    if (!HOST.test(raw[2]!))
      return { ok: false, reason: `unusable host in X-Original-URL: ${raw[2]}` };
    if (origin.host && origin.host.toLowerCase() !== url.host) {
      return { ok: false, reason: 'X-Original-URL and X-Forwarded-Host disagree' };
    }
    return build(method, `${raw[1]}://${raw[2]}`, raw[3] || '/', req);
  }
  const uri = read.values['x-original-uri'];
  const host = origin.host ?? read.values.host;
  if (!uri || !host)
    return { ok: false, reason: 'X-Original-URL (or X-Original-URI and Host) missing' };
  return build(method, `${origin.proto ?? 'http'}://${host}`, uri, req);
}

/** Envoy `ext_authz` over HTTP: the original path and query follow the check path's prefix. */
function fromEnvoyPath(req: IncomingMessage, rest: string): Adapted {
  const read = readHeaders(req, [':authority', 'host']);
  if (!read.ok) return read;
  const origin = forwardedOrigin(req);
  if (!origin.ok) return origin;
  const host = read.values[':authority'] ?? read.values.host;
  if (!host) return { ok: false, reason: 'Host missing' };
  return build(req.method ?? 'GET', `${origin.proto ?? 'http'}://${host}`, rest || '/', req);
}

function readHeaders(
  req: IncomingMessage,
  names: string[],
): { ok: true; values: Record<string, string | undefined> } | { ok: false; reason: string } {
  const values: Record<string, string | undefined> = {};
  for (const name of names) {
    const header = singleHeader(req, name);
    if (!header.ok) return header;
    values[name] = header.value;
  }
  return { ok: true, values };
}

function build(method: string, origin: string, target: string, req: IncomingMessage): Adapted {
  if (!/^[A-Z]{3,10}$/.test(method)) return { ok: false, reason: `unusable method ${method}` };
  const parts = /^(https?):\/\/(.*)$/i.exec(origin);
  if (!parts) return { ok: false, reason: `unusable scheme in ${origin}` };
  // A forwarded host is a name or address with an optional port, nothing more: `a.example@evil`
  // or `a.example/x` would make the URL parser pick a different host than the proxy routed on.
  if (!HOST.test(parts[2]!)) return { ok: false, reason: `unusable host ${parts[2]}` };
  if (!target.startsWith('/') || target.startsWith('//')) {
    return { ok: false, reason: 'original URI must be a path starting with one /' };
  }
  const url = URL.parse(`${parts[1]!.toLowerCase()}://${parts[2]}${target}`);
  if (!url) return { ok: false, reason: `unparseable original URL ${origin}${target}` };
  return { ok: true, request: { method, url, target, headers: req.headers } };
}

const HOST = /^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
