/**
 * Proxy mode: forwards an allowed request to the application's internal address with
 * http-proxy-3, streaming bodies both ways and tunnelling websocket upgrades. Before forwarding,
 * every inbound identity header and Gatehouse's own cookies are removed and its own headers added.
 * @module
 */
import { readFileSync } from 'node:fs';
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import type { IdentityHeaders } from '../identity/header-sets.ts';
import { isIdentityHeader, withoutOwnCookies } from '../identity/strip.ts';
import { isFlowCookieName } from '../oidc/login-flow.ts';
import { SIGN_IN_MARKER_COOKIE } from '../oidc/sign-in-marker.ts';
import type { Application } from '../server/application.ts';
import { isSessionCookieName } from '../session/session-cookie.ts';
import { isNavigation } from '../gate/request-kind.ts';
import { json, page, send, writeRaw } from '../server/replies.ts';

/** Connection-level headers of one hop; never forwarded (RFC 9110 section 7.6.1). */
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

export type UpstreamTimeouts = { connectTimeoutMs: number; responseTimeoutMs: number };

export type Forwarding = {
  identity: IdentityHeaders;
  peer: string;
  /** Keep the client's Authorization header (off unless the application asks for it). */
  passAuthorization: boolean;
};

/**
 * The headers the application receives: the client's, less hop-by-hop headers, identity headers
 * in any spelling, forwarding headers and Gatehouse's cookies, plus Gatehouse's own.
 */
export function upstreamHeaders(
  req: IncomingMessage,
  app: Application,
  forwarding: Forwarding,
  websocket = false,
): IncomingHttpHeaders {
  const listed = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  const custom = new Set(Object.keys(app.config.custom_headers).map((name) => name.toLowerCase()));
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (custom.has(name.replaceAll('_', '-'))) continue;
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (
      isIdentityHeader(name) ||
      name === 'cookie' ||
      name.startsWith('x-forwarded-') ||
      name === 'forwarded'
    )
      continue;
    if (name === 'authorization' && !forwarding.passAuthorization) continue;
    headers[name] = value;
  }
  if (websocket) {
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade;
  }

  const cookie = withoutOwnCookies(
    req.headers.cookie,
    // Every application's session cookie, not only this one's: browsers send cookies by host,
    // not port, and a domain cookie reaches every host under it.
    (name) => isSessionCookieName(name) || name === SIGN_IN_MARKER_COOKIE || isFlowCookieName(name),
  );
  if (cookie) headers.cookie = cookie;
  headers['x-forwarded-for'] = forwarding.peer;
  headers['x-forwarded-proto'] = app.origin.protocol.slice(0, -1);
  headers['x-forwarded-host'] = req.headers.host ?? app.origin.host;
  if (!app.config.pass_host_header) headers.host = new URL(app.config.internal_host!).host;
  for (const [name, value] of Object.entries(forwarding.identity))
    headers[name.toLowerCase()] = value;
  return headers;
}

/** One proxy per application, created on first use. */
export class Upstreams {
  readonly #proxies = new Map<string, { proxy: ProxyServer; upgrades: http.Agent }>();
  readonly #log: Logger;
  readonly #timedOut = new WeakSet<IncomingMessage>();

  constructor(options: { log: Logger }) {
    this.#log = options.log;
  }

  web(req: IncomingMessage, res: ServerResponse, app: Application, forwarding: Forwarding): void {
    req.headers = upstreamHeaders(req, app, forwarding);
    this.#proxy(app).proxy.web(req, res);
  }

  websocket(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    app: Application,
    forwarding: Forwarding,
  ): void {
    req.headers = upstreamHeaders(req, app, forwarding, true);
    const { proxy, upgrades } = this.#proxy(app);
    proxy.ws(req, socket, head, { agent: upgrades });
  }

  close(): void {
    for (const { proxy } of this.#proxies.values()) proxy.close();
    this.#proxies.clear();
  }

  #proxy(app: Application): { proxy: ProxyServer; upgrades: http.Agent } {
    const existing = this.#proxies.get(app.name);
    if (existing) return existing;

    const config = app.config;
    const internal = new URL(config.internal_host!);
    const secure = internal.protocol === 'https:';
    const ca = config.internal_host_ca_file
      ? readFileSync(config.internal_host_ca_file, 'utf8')
      : undefined;
    // The certificate is checked against the internal host, as the address Gatehouse dials,
    // not against the external Host header that is passed on.
    const agent = (keepAlive: boolean) =>
      secure
        ? new https.Agent({
            keepAlive,
            rejectUnauthorized: config.internal_host_ssl_validation,
            servername: isIP(internal.hostname) ? '' : internal.hostname,
            ...(ca ? { ca } : {}),
          })
        : new http.Agent({ keepAlive });
    const proxy = createProxyServer({
      target: internal.href,
      agent: agent(true),
      ws: true,
      xfwd: false,
      secure: config.internal_host_ssl_validation,
      prependPath: true,
    });
    // The timeout is Gatehouse's own, so a reset by the application (502) is told apart from an
    // application that did not answer in time (504).
    proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.setTimeout(config.upstream_timeout, () => {
        this.#timedOut.add(req);
        proxyReq.destroy();
      });
    });
    proxy.on('error', (error, req, target) =>
      this.#failed(app, error as NodeJS.ErrnoException, req, target),
    );
    // An upgraded connection leaves the pool for good: upgrades get a pool that keeps none.
    const upgrades = agent(false);
    const entry = { proxy, upgrades };
    this.#proxies.set(app.name, entry);
    return entry;
  }

  #failed(
    app: Application,
    error: NodeJS.ErrnoException,
    req: IncomingMessage,
    target: unknown,
  ): void {
    const timedOut = this.#timedOut.has(req) || error.code === 'ETIMEDOUT';
    const status = timedOut ? 504 : 502;
    const cause = timedOut ? 'no answer within upstream_timeout' : (error.code ?? error.message);
    this.#log.warn({ event: 'upstream_failed', app: app.name, status, cause, path: req.url });

    if (isResponse(target)) {
      if (!target.headersSent) {
        send(target, failurePage(app, status, cause, req));
      } else {
        target.destroy();
      }
      return;
    }
    const socket = target as Duplex | undefined;
    if (socket && !socket.destroyed) writeRaw(socket, { status });
  }
}

function failurePage(app: Application, status: 502 | 504, cause: string, req: IncomingMessage) {
  if (!isNavigation(req.headers)) {
    return json(status, { error: status === 504 ? 'upstream_timeout' : 'bad_gateway', cause });
  }
  const what =
    status === 504
      ? `${app.name} did not answer within ${Math.round(app.config.upstream_timeout / 1000)} s.`
      : `${app.name} could not be reached (${cause}).`;
  return page(
    status,
    status === 504 ? 'The application is not answering' : 'The application is down',
    [what, 'You are signed in; try again in a moment.'],
  );
}

function isResponse(value: unknown): value is ServerResponse {
  return typeof value === 'object' && value !== null && 'writeHead' in value;
}
