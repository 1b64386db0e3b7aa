/**
 * Proxy mode: forwards an allowed request to the application's internal address, streaming the
 * body both ways, with inbound identity headers and Gatehouse's cookies removed and its own added.
 * @module
 */
import http, {
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import type { IdentityHeaders } from '../identity/header-sets.ts';
import { isIdentityHeader, withoutOwnCookies } from '../identity/strip.ts';
import { FLOW_COOKIE_PREFIX } from '../oidc/login-flow.ts';
import type { Application } from '../server/application.ts';
import { json, send } from '../server/replies.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export type UpstreamOptions = { connectTimeoutMs: number; responseTimeoutMs: number };

export function upstreamHeaders(
  req: IncomingMessage,
  app: Application,
  identity: IdentityHeaders,
  peer: string,
): OutgoingHttpHeaders {
  const connectionListed = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || connectionListed.has(lower)) continue;
    if (isIdentityHeader(lower) || lower === 'cookie' || lower.startsWith('x-forwarded-')) continue;
    headers[lower] = value;
  }

  const cookie = withoutOwnCookies(
    req.headers.cookie,
    (name) => name === app.cookie.name || name.startsWith(FLOW_COOKIE_PREFIX),
  );
  if (cookie) headers.cookie = cookie;
  headers['x-forwarded-for'] = peer;
  headers['x-forwarded-proto'] = app.origin.protocol.slice(0, -1);
  headers['x-forwarded-host'] = req.headers.host ?? app.origin.host;
  for (const [name, value] of Object.entries(identity)) headers[name] = value;
  return headers;
}

export function forwardToUpstream(
  req: IncomingMessage,
  res: ServerResponse,
  app: Application,
  identity: IdentityHeaders,
  options: { peer: string; log: Logger; timeouts: UpstreamOptions },
): void {
  const target = new URL(app.config.internal_host!);
  const transport = target.protocol === 'https:' ? https : http;
  const upstream = transport.request({
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port || undefined,
    method: req.method,
    path: `${target.pathname.replace(/\/$/, '')}${req.url ?? '/'}`,
    headers: upstreamHeaders(req, app, identity, options.peer),
    rejectUnauthorized: app.config.internal_host_ssl_validation,
    timeout: options.timeouts.connectTimeoutMs,
  });

  const fail = (status: 502 | 504, cause: string, error?: Error) => {
    options.log.warn({ event: 'upstream_failed', app: app.name, status, cause, err: error });
    if (!res.headersSent)
      send(
        res,
        json(status, { error: status === 504 ? 'upstream_timeout' : 'bad_gateway', cause }),
      );
    else res.destroy();
  };

  upstream.on('timeout', () => {
    upstream.destroy();
    fail(504, 'upstream did not answer in time');
  });
  upstream.on('error', (error) =>
    fail(502, (error as NodeJS.ErrnoException).code ?? error.message, error),
  );
  upstream.on('response', (answer) => {
    upstream.setTimeout(0);
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
    pipeline(answer, res, () => {});
  });
  upstream.setTimeout(options.timeouts.responseTimeoutMs);
  pipeline(req, upstream, () => {});
}
