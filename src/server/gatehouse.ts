/**
 * The HTTP listener: Gatehouse's own endpoints under `path_prefix`, forward-auth checks, and
 * proxy-mode traffic for everything else.
 * @module
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { isStoreUnavailable } from '../errors.ts';
import { adapt, type Flavour } from '../forward/adapters.ts';
import { singleHeader } from '../forward/forwarded-headers.ts';
import { normalisePeer, TrustedProxies } from '../forward/trusted-proxies.ts';
import type { Decision } from '../gate/decision.ts';
import { Gate } from '../gate/gate.ts';
import type { OriginalRequest } from '../gate/original-request.ts';
import { BackchannelLogout } from '../oidc/backchannel-logout.ts';
import { BearerVerifier } from '../oidc/bearer-token.ts';
import { LoginFlows } from '../oidc/login-flow.ts';
import { ProviderConfigs } from '../oidc/provider-configs.ts';
import { OidcTokenRenewer } from '../oidc/token-renewer.ts';
import { Upstreams, type Forwarding } from '../proxy/upstream.ts';
import { deriveKeys } from '../session/keys.ts';
import type { SessionStore } from '../session/record.ts';
import { Renewal } from '../session/renewal.ts';
import { Sessions } from '../session/sessions.ts';
import { ApplicationRouter, buildApplication, type Application } from './application.ts';
import { challenge, unavailable, type Responder } from './challenge.ts';
import { json, send, writeRaw, type Reply } from './replies.ts';
import { SignIn } from './sign-in.ts';

const FLAVOURS = new Set<string>(['traefik', 'caddy', 'nginx', 'envoy']);

const UPGRADE_REFUSALS: Partial<Record<Decision['kind'], number>> = {
  unavailable: 503,
  forbidden: 403,
  bad_request: 400,
};

export type GatehouseOptions = {
  config: Config;
  store: SessionStore;
  log: Logger;
  now?: () => number;
};

export class Gatehouse {
  readonly config: Config;
  readonly router: ApplicationRouter;
  readonly sessions: Sessions;
  readonly #gate: Gate;
  readonly #signIn: SignIn;
  readonly #flows: LoginFlows;
  readonly #trusted: TrustedProxies;
  readonly #backchannel: BackchannelLogout;
  readonly #upstreams: Upstreams;
  readonly #log: Logger;
  readonly #prefix: string;

  constructor({ config, store, log, now }: GatehouseOptions) {
    this.config = config;
    this.#log = log;
    this.#prefix = config.path_prefix;
    const keys = deriveKeys(config.secret);
    this.router = new ApplicationRouter(
      config.applications.map((app) => buildApplication(app, config)),
    );
    const configs = new ProviderConfigs({ clockLeewayMs: config.clock_leeway });
    const clock = now ? { now } : {};
    const renewal = new Renewal({
      store,
      renewer: new OidcTokenRenewer({ configs, router: this.router, ...clock }),
      revalidateIntervalMs: config.session.revalidate_interval,
      log,
      ...clock,
    });
    this.sessions = new Sessions({
      store,
      cookieKey: keys.cookieTag,
      policy: { lifetimeMs: config.session.lifetime, idleTimeoutMs: config.session.idle_timeout },
      log,
      renewal,
      ...clock,
    });
    this.#flows = new LoginFlows({ configs, key: keys.flowEncryption, ...(now ? { now } : {}) });
    this.#gate = new Gate({
      sessions: this.sessions,
      bearer: new BearerVerifier({ configs, clockLeewayMs: config.clock_leeway }),
      log,
    });
    this.#signIn = new SignIn({
      flows: this.#flows,
      sessions: this.sessions,
      configs,
      router: this.router,
      log,
    });
    this.#trusted = new TrustedProxies(config.trusted_proxies);
    this.#upstreams = new Upstreams({ log });
    this.#backchannel = new BackchannelLogout({
      configs,
      sessions: this.sessions,
      applications: this.router.applications,
      clockLeewayMs: config.clock_leeway,
      log,
    });
  }

  /** A node:http server serving this Gatehouse; the caller listens and closes it. */
  createServer(): Server {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.#log.error({ event: 'request_failed', method: req.method, err: error });
        if (!res.headersSent) send(res, json(500, { error: 'internal_error' }));
        else res.destroy();
      });
    });
    server.on('upgrade', (req, socket, head) => {
      // A forward-auth check for a websocket carries the client's Upgrade header; it is a
      // question about the upgrade, answered with a plain response, never an upgrade itself.
      if (this.#isOwnPath(req.url)) return this.#answerOnSocket(req, socket as Socket);
      this.#upgrade(req, socket, head).catch((error: unknown) => {
        this.#log.error({ event: 'upgrade_failed', err: error });
        socket.destroy();
      });
    });
    return server;
  }

  #isOwnPath(target: string | undefined): boolean {
    const path = (target ?? '/').split('?', 1)[0]!;
    return path === this.#prefix || path.startsWith(`${this.#prefix}/`);
  }

  #answerOnSocket(req: IncomingMessage, socket: Socket): void {
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.on('finish', () => {
      res.detachSocket(socket);
      socket.end();
    });
    this.handle(req, res).catch((error: unknown) => {
      this.#log.error({ event: 'request_failed', method: req.method, err: error });
      socket.destroy();
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    if (!target.startsWith('/'))
      return send(res, json(400, { error: 'bad_request', reason: 'request target' }));
    if (!this.#isOwnPath(target)) return this.#proxy(req, res);

    const queryAt = target.indexOf('?');
    const path = queryAt < 0 ? target : target.slice(0, queryAt);
    const search = queryAt < 0 ? '' : target.slice(queryAt);
    const reply = await this.#ownEndpoint(path.slice(this.#prefix.length), search, req);
    return send(res, reply, req.method === 'HEAD');
  }

  async close(): Promise<void> {
    this.#upstreams.close();
    await this.sessions.close();
  }

  async #ownEndpoint(path: string, search: string, req: IncomingMessage): Promise<Reply> {
    if (path === '/ping') return { status: 204 };
    if (path === '/ready') return this.#ready();
    if (path === '/backchannel_logout') return this.#backchannelLogout(req);

    if (path.startsWith('/auth/')) {
      const [flavour = '', ...rest] = path.slice('/auth/'.length).split('/');
      if (!FLAVOURS.has(flavour) || (flavour !== 'envoy' && rest.length))
        return json(404, { error: 'not_found' });
      const envoyRest = flavour === 'envoy' ? `/${rest.join('/')}${search}` : '';
      return this.#forwardAuth(flavour as Flavour, req, envoyRest);
    }

    const query = new URLSearchParams(search);
    const app = this.router.route(req.headers.host);
    if (!app) return json(404, { error: 'not_found', reason: 'no application for this host' });
    const origin = `${app.origin.protocol}//${req.headers.host}`;
    switch (path) {
      case '/start':
        return this.#signIn.start(app, origin.toLowerCase(), query, req);
      case '/callback':
        return this.#signIn.callback(app, query, req);
      case '/sign_out':
        return this.#signIn.signOut(app, query, req);
    }
    return json(404, { error: 'not_found' });
  }

  async #ready(): Promise<Reply> {
    try {
      await this.sessions.store.ping();
      return json(200, { status: 'ready', store: this.sessions.store.kind });
    } catch (error) {
      this.#log.warn({ event: 'not_ready', err: error });
      return json(
        503,
        { status: 'unavailable', store: this.sessions.store.kind },
        { 'Retry-After': '5' },
      );
    }
  }

  async #backchannelLogout(req: IncomingMessage): Promise<Reply> {
    if (req.method !== 'POST') return json(405, { error: 'method_not_allowed' }, { Allow: 'POST' });
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      return json(400, {
        error: 'invalid_request',
        reason: 'expected an application/x-www-form-urlencoded body',
      });
    }
    const body = await readBody(req, 64 * 1024);
    if (body === undefined)
      return json(413, { error: 'invalid_request', reason: 'body too large' });

    try {
      const result = await this.#backchannel.handle(new URLSearchParams(body).get('logout_token'));
      if (!result.ok) {
        this.#log.warn({ event: 'backchannel_logout_rejected', reason: result.reason });
        return json(400, { error: 'invalid_request', reason: result.reason });
      }
      return { status: 200, headers: { 'Cache-Control': 'no-store' } };
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      this.#log.error({ event: 'backchannel_logout_failed', err: error });
      return unavailable(5);
    }
  }

  async #forwardAuth(flavour: Flavour, req: IncomingMessage, envoyRest: string): Promise<Reply> {
    const peer = normalisePeer(req.socket.remoteAddress ?? '');
    if (!this.#trusted.trusts(peer)) {
      this.#log.warn({ event: 'untrusted_forwarder', flavour, peer });
      return json(400, {
        error: 'bad_request',
        reason: 'forward-auth request from a peer not in trusted_proxies',
      });
    }
    const adapted = adapt(flavour, req, envoyRest);
    if (!adapted.ok) {
      this.#log.warn({ event: 'proxy_misconfigured', flavour, reason: adapted.reason });
      return json(400, { error: 'bad_request', reason: adapted.reason });
    }
    const { request } = adapted;
    const app = this.router.route(request.url.host, request.url.protocol.slice(0, -1));
    if (!app) {
      this.#log.warn({ event: 'unknown_host', flavour, host: request.url.host });
      return json(flavour === 'nginx' ? 403 : 404, {
        error: 'not_found',
        reason: 'no application for this host',
      });
    }

    const decision = await this.#gate.decide(request, app);
    if (decision.kind === 'allow') return { status: 200, headers: decision.headers };
    return this.#challenge(decision, app, request, flavour);
  }

  /** The proxy-mode application for a request's Host, or the answer when there is none. */
  #proxyApp(req: IncomingMessage): { app: Application } | { refusal: Reply } {
    // Node keeps the first of two Host headers; a front proxy may have routed on the second.
    const host = singleHeader(req, 'host');
    if (!host.ok) return { refusal: json(400, { error: 'bad_request', reason: host.reason }) };
    const app = this.router.route(host.value);
    if (!app || app.config.mode !== 'proxy') {
      return { refusal: json(404, { error: 'not_found', reason: 'no application for this host' }) };
    }
    return { app };
  }

  async #proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const found = this.#proxyApp(req);
    if ('refusal' in found) return send(res, found.refusal);
    const { app } = found;
    const request = this.#proxiedRequest(req, app);
    const decision = await this.#gate.decide(request, app);
    if (decision.kind !== 'allow') {
      // The body of a refused request must reach no one.
      req.resume();
      return send(
        res,
        await this.#challenge(decision, app, request, 'proxy'),
        req.method === 'HEAD',
      );
    }
    this.#upstreams.web(req, res, app, this.#forwarding(req, app, decision.headers));
  }

  #forwarding(
    req: IncomingMessage,
    app: Application,
    identity: Forwarding['identity'],
  ): Forwarding {
    return {
      identity,
      peer: normalisePeer(req.socket.remoteAddress ?? ''),
      passAuthorization: app.config.pass_authorization_header,
    };
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const found = this.#proxyApp(req);
    if ('refusal' in found) return writeRaw(socket, found.refusal);
    const { app } = found;
    const decision = await this.#gate.decide(this.#proxiedRequest(req, app), app);
    if (decision.kind !== 'allow') {
      // A websocket client cannot follow a login: every refusal is a plain status.
      const status = UPGRADE_REFUSALS[decision.kind] ?? 401;
      return writeRaw(socket, json(status, { error: decision.kind }));
    }
    this.#upstreams.websocket(req, socket, head, app, this.#forwarding(req, app, decision.headers));
  }

  /**
   * Proxy mode is the edge: the request is judged as it arrived, on the application's own origin
   * and the raw target, and forwarding headers from any peer are ignored (and never forwarded).
   */
  #proxiedRequest(req: IncomingMessage, app: Application): OriginalRequest {
    const target = req.url ?? '/';
    // Appended, not resolved: `//evil.example/x` resolved against the origin would be another host.
    const url = URL.parse(`${app.origin.origin}${target}`) ?? new URL(app.origin.origin);
    return { method: req.method ?? 'GET', url, target, headers: req.headers };
  }

  #challenge(
    decision: Exclude<Decision, { kind: 'allow' }>,
    app: Application,
    request: OriginalRequest,
    responder: Responder,
  ) {
    return challenge(decision, { app, request, responder, flows: this.#flows, log: this.#log });
  }
}

/** The request body as text, or undefined when it exceeds `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
