/**
 * Gatehouse's own sign-in endpoints: `/start`, `/callback` and `/sign_out`.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import * as client from 'openid-client';
import type { Logger } from 'pino';
import { parseCookies, type CookieJar } from '../http/cookies.ts';
import type { LoginFlows, SignedIn } from '../oidc/login-flow.ts';
import type { ProviderConfigs } from '../oidc/provider-configs.ts';
import { resolveReturnUrl, type ReturnUrl } from '../oidc/return-url.ts';
import { clearSignIns, markSignIn } from '../oidc/sign-in-marker.ts';
import { clearSessionCookie, setSessionCookie } from '../session/session-cookie.ts';
import type { Sessions } from '../session/sessions.ts';
import type { Application, ApplicationRouter } from './application.ts';
import { beginLogin, startUrl, unavailable } from './challenge.ts';
import { cookiesNotKeptPage, exchangeFailedPage, signedOutPage } from './pages.ts';
import { page, redirect, type Reply } from './replies.ts';

/** After this many restarts of a flow whose cookie never came back, stop and explain (no loop). */
const MAX_FLOW_RESTARTS = 1;

export class SignIn {
  readonly #flows: LoginFlows;
  readonly #sessions: Sessions;
  readonly #configs: ProviderConfigs;
  readonly #router: ApplicationRouter;
  readonly #log: Logger;

  constructor(options: {
    flows: LoginFlows;
    sessions: Sessions;
    configs: ProviderConfigs;
    router: ApplicationRouter;
    log: Logger;
  }) {
    this.#flows = options.flows;
    this.#sessions = options.sessions;
    this.#configs = options.configs;
    this.#router = options.router;
    this.#log = options.log;
  }

  async start(
    app: Application,
    requestOrigin: string,
    query: URLSearchParams,
    req: IncomingMessage,
  ): Promise<Reply> {
    const returnTo = resolveReturnUrl(query.get('rd'), app);
    // The callback is on the application's own origin, so the flow cookie must be set there.
    if (requestOrigin !== app.origin.origin) return redirect(302, startUrl(app, returnTo));

    const cookies = parseCookies(req.headers.cookie);
    const lookup = await this.#sessions.load(app.name, app.cookie, cookies);
    if (lookup.kind === 'valid') return redirect(302, returnTo);
    if (lookup.kind === 'unavailable') return unavailable(5);
    return beginLogin({
      app,
      returnTo,
      cookies,
      status: 302,
      clear: lookup.stale ? [clearSessionCookie(app.cookie)] : [],
      flows: this.#flows,
      log: this.#log,
    });
  }

  async callback(app: Application, query: URLSearchParams, req: IncomingMessage): Promise<Reply> {
    const cookies = parseCookies(req.headers.cookie);
    const outcome = await this.#flows.finish(app, query, cookies);

    switch (outcome.kind) {
      case 'signed_in':
        return this.#signedIn(app, outcome, cookies);
      case 'provider_error':
        this.#log.warn({
          event: 'login_refused',
          app: app.name,
          error: outcome.error,
          description: outcome.description,
        });
        return page(
          outcome.error === 'access_denied' ? 403 : 400,
          'Sign-in was not completed',
          [
            `The identity provider answered: ${outcome.error}` +
              (outcome.description ? ` (${outcome.description}).` : '.'),
          ],
          {},
          { href: startUrl(app, resolveReturnUrl('/', app)), text: 'Try again' },
        );
      case 'failed':
        this.#log.warn({ event: 'login_failed', app: app.name, err: outcome.error });
        return this.#restart(
          app,
          outcome.returnTo,
          outcome.attempt,
          cookies,
          'code exchange failed',
          true,
        );
      case 'unknown_flow':
        this.#log.info({
          event: 'login_flow_unknown',
          app: app.name,
          reason: outcome.reason,
          attempt: outcome.attempt,
        });
        return this.#restart(app, outcome.returnTo, outcome.attempt, cookies, outcome.reason);
    }
  }

  /**
   * `rd`, checked like every return target, is where the browser lands when the provider has no
   * end-session endpoint; with one, the provider sends it to the registered `external_host/`.
   */
  async signOut(app: Application, query: URLSearchParams, req: IncomingMessage): Promise<Reply> {
    const cookies = parseCookies(req.headers.cookie);
    const lookup = await this.#sessions.load(app.name, app.cookie, cookies);
    if (lookup.kind === 'unavailable') return unavailable(5);
    const clear = [
      clearSessionCookie(app.cookie),
      ...this.#flows.clearAll(app, cookies),
      clearSignIns(),
    ];
    const rd = query.get('rd');
    const landing = rd ? resolveReturnUrl(rd, app) : undefined;
    const signedOut = () => (landing ? redirect(302, landing, clear) : signedOutPage(app, clear));
    if (lookup.kind !== 'valid') return signedOut();

    const { sub, idToken } = lookup.session;
    // Every application signed in at the same provider ends here too, as the provider session
    // ends below.
    const siblings = this.#router.applications.filter(
      (other) => other.config.oidc.issuer === app.config.oidc.issuer,
    );
    try {
      for (const other of siblings) await this.#sessions.end({ app: other.name, sub });
    } catch (error) {
      this.#log.error({ event: 'sign_out_failed', app: app.name, err: error });
      return unavailable(5);
    }
    this.#log.info({ event: 'signed_out', app: app.name, sub });

    const endSession = await this.#endSessionUrl(app, idToken);
    return endSession ? redirect(302, endSession, clear) : signedOut();
  }

  async #restart(
    app: Application,
    target: string | undefined,
    attempt: number,
    cookies: CookieJar,
    reason: string,
    exchangeFailed = false,
  ): Promise<Reply> {
    const returnTo = resolveReturnUrl(target, app);
    const lookup = await this.#sessions.load(app.name, app.cookie, cookies);
    if (lookup.kind === 'valid') return redirect(302, returnTo);
    if (lookup.kind === 'unavailable') return unavailable(5);

    if (attempt >= MAX_FLOW_RESTARTS) {
      this.#log.warn({ event: 'login_loop_stopped', app: app.name, reason, attempt });
      return exchangeFailed ? exchangeFailedPage(app, returnTo) : cookiesNotKeptPage(app, returnTo);
    }
    return beginLogin({
      app,
      returnTo,
      cookies,
      status: 302,
      clear: [],
      flows: this.#flows,
      log: this.#log,
      attempt: attempt + 1,
    });
  }

  async #signedIn(app: Application, outcome: SignedIn, cookies: CookieJar): Promise<Reply> {
    let created;
    try {
      created = await this.#sessions.create(app.name, outcome);
    } catch (error) {
      this.#log.error({ event: 'session_create_failed', app: app.name, err: error });
      return unavailable(5);
    }
    this.#log.info({ event: 'signed_in', app: app.name, sub: outcome.sub });
    const cookie = setSessionCookie(
      app.cookie,
      created.cookieValue,
      this.#sessions.lifetimeSeconds(created.record),
    );
    return redirect(302, resolveReturnUrl(outcome.returnTo, app), [
      cookie,
      outcome.clearFlowCookie,
      markSignIn(cookies),
    ]);
  }

  async #endSessionUrl(app: Application, idToken: string | undefined): Promise<string | undefined> {
    try {
      const config = await this.#configs.get(app);
      if (!config.serverMetadata().end_session_endpoint) return undefined;
      const parameters: Record<string, string> = {
        post_logout_redirect_uri: `${app.origin.origin}/`,
      };
      if (idToken) parameters.id_token_hint = idToken;
      return client.buildEndSessionUrl(config, parameters).href;
    } catch (error) {
      this.#log.warn({ event: 'end_session_unavailable', app: app.name, err: error });
      return undefined;
    }
  }
}
