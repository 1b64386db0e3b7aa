/**
 * The forward-auth decision: (original request, application, session) → Decision. Every path
 * that does not end in a validated session, a verified credential or a declared exemption ends
 * in a challenge or error.
 * @module
 */
import type { Logger } from 'pino';
import { parseCookies } from '../http/cookies.ts';
import { applicationHeaders, emptyApplicationHeaders } from '../identity/application-headers.ts';
import type { Identity, IdentityHeaders } from '../identity/header-sets.ts';
import { bearerToken, type BearerVerifier } from '../oidc/bearer-token.ts';
import type { Application } from '../server/application.ts';
import type { Claims } from '../session/record.ts';
import type { Sessions, ValidatedSession } from '../session/sessions.ts';
import { deniedBy } from './access-policy.ts';
import { canonicalPath } from './canonical-path.ts';
import type { Decision } from './decision.ts';
import { findExemption } from './exemptions.ts';
import type { OriginalRequest } from './original-request.ts';
import { isNavigation } from './request-kind.ts';

const RETRY_AFTER_SECONDS = 5;
const HEADER_CACHE_SIZE = 10_000;

type Judged = { request: OriginalRequest; app: Application; rulePath: string };

export class Gate {
  readonly #sessions: Sessions;
  readonly #bearer: BearerVerifier | undefined;
  readonly #log: Logger;
  readonly #headerCache = new Map<string, { stamp: string; headers: Readonly<IdentityHeaders> }>();

  constructor(options: { sessions: Sessions; bearer?: BearerVerifier; log: Logger }) {
    this.#sessions = options.sessions;
    this.#bearer = options.bearer;
    this.#log = options.log;
  }

  async decide(request: OriginalRequest, app: Application): Promise<Decision> {
    const path = canonicalPath(request.target);
    if (!path.ok) {
      this.#log.info({ event: 'path_refused', app: app.name, reason: path.reason });
      return { kind: 'bad_request', reason: path.reason };
    }
    const judged = { request, app, rulePath: path.rulePath };

    const exemption = findExemption(app, request, path);
    if (exemption) {
      return {
        kind: 'allow',
        basis: 'exemption',
        exemption,
        headers: emptyApplicationHeaders(app.config),
      };
    }

    const token = app.config.intercept_header_auth ? bearerToken(request.headers) : undefined;
    if (token !== undefined && this.#bearer) return this.#credential(judged, token);

    const lookup = await this.#sessions.load(
      app.name,
      app.cookie,
      parseCookies(request.headers.cookie),
    );
    switch (lookup.kind) {
      case 'valid':
        return this.#admitSession(judged, lookup.session);
      case 'unavailable':
        this.#log.error({ event: 'session_store_unavailable', app: app.name, err: lookup.error });
        return { kind: 'unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS, error: lookup.error };
      case 'absent':
        if (lookup.stale)
          this.#log.info({ event: 'session_rejected', app: app.name, reason: lookup.reason });
        return isNavigation(request.headers)
          ? {
              kind: 'login',
              returnTo: request.url.href,
              clearSessionCookie: lookup.stale,
              reason: lookup.reason,
            }
          : { kind: 'unauthenticated', clearSessionCookie: lookup.stale, reason: lookup.reason };
    }
  }

  async #credential(judged: Judged, token: string): Promise<Decision> {
    const { app } = judged;
    const outcome = await this.#bearer!.verify(app, token);
    switch (outcome.kind) {
      case 'invalid':
        this.#log.info({ event: 'bearer_rejected', app: app.name, reason: outcome.reason });
        return { kind: 'invalid_credential', reason: outcome.reason };
      case 'unavailable':
        this.#log.error({ event: 'bearer_keys_unavailable', app: app.name, err: outcome.error });
        return {
          kind: 'unavailable',
          retryAfterSeconds: RETRY_AFTER_SECONDS,
          error: outcome.error,
        };
      case 'verified': {
        const { credential } = outcome;
        const rule = this.#denied(judged, credential.sub, credential.claims);
        if (rule) return { kind: 'forbidden', claims: credential.claims, rule };
        const headers = this.#headers(app, { claims: credential.claims }, credential.sub);
        return { kind: 'allow', basis: 'credential', credential, headers };
      }
    }
  }

  #admitSession(judged: Judged, session: ValidatedSession): Decision {
    const { app } = judged;
    const rule = this.#denied(judged, session.sub, session.claims);
    if (rule) return { kind: 'forbidden', claims: session.claims, rule };
    return {
      kind: 'allow',
      basis: 'session',
      session,
      headers: this.#sessionHeaders(app, session),
    };
  }

  /**
   * The headers of a session are the same on every request until it is renewed, so they are
   * built once. The cache is consulted only after the store confirmed the session.
   */
  #sessionHeaders(app: Application, session: ValidatedSession): Readonly<IdentityHeaders> {
    const key = `${app.name}:${session.key}`;
    const stamp = `${session.validatedAt}:${session.accessTokenIssuedAt ?? 0}`;
    const cached = this.#headerCache.get(key);
    if (cached?.stamp === stamp) return cached.headers;

    const headers = this.#headers(
      app,
      { claims: session.claims, accessToken: session.accessToken },
      session.sub,
    );
    if (this.#headerCache.size >= HEADER_CACHE_SIZE) {
      this.#headerCache.delete(this.#headerCache.keys().next().value!);
    }
    this.#headerCache.set(key, { stamp, headers });
    return headers;
  }

  #headers(app: Application, identity: Identity, sub: string): IdentityHeaders {
    const built = applicationHeaders(app.config, identity, { app: app.name, provider: app.name });
    if (built.droppedGroups) {
      this.#log.warn({
        event: 'groups_truncated',
        app: app.name,
        sub,
        dropped: built.droppedGroups,
      });
    }
    return built.headers;
  }

  #denied({ app, request, rulePath }: Judged, sub: string, claims: Claims): string | undefined {
    const rule = deniedBy(app.access, claims, { path: rulePath, method: request.method });
    if (rule) this.#log.info({ event: 'access_denied', app: app.name, sub, rule, path: rulePath });
    return rule;
  }
}
