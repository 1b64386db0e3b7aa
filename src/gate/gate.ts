/**
 * The forward-auth decision: (original request, application, session) → Decision. Every path
 * that does not end in a validated session or a declared exemption ends in a challenge or error.
 * @module
 */
import type { Logger } from 'pino';
import { parseCookies } from '../http/cookies.ts';
import { emptyIdentityHeaders, identityHeaders } from '../identity/header-sets.ts';
import type { Application } from '../server/application.ts';
import type { Sessions, ValidatedSession } from '../session/sessions.ts';
import { deniedBy } from './access-policy.ts';
import type { Decision } from './decision.ts';
import { findExemption } from './exemptions.ts';
import type { OriginalRequest } from './original-request.ts';
import { isNavigation } from './request-kind.ts';

const RETRY_AFTER_SECONDS = 5;

export class Gate {
  readonly #sessions: Sessions;
  readonly #log: Logger;

  constructor(options: { sessions: Sessions; log: Logger }) {
    this.#sessions = options.sessions;
    this.#log = options.log;
  }

  async decide(request: OriginalRequest, app: Application): Promise<Decision> {
    const exemption = findExemption(app, request);
    if (exemption) {
      return {
        kind: 'allow',
        basis: 'exemption',
        exemption,
        headers: emptyIdentityHeaders(app.config.header_sets),
      };
    }

    const lookup = await this.#sessions.load(
      app.name,
      app.cookie,
      parseCookies(request.headers.cookie),
    );
    switch (lookup.kind) {
      case 'valid':
        return this.#admit(app, lookup.session);
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

  #admit(app: Application, session: ValidatedSession): Decision {
    const rule = deniedBy(app, session.claims);
    if (rule) {
      this.#log.info({ event: 'access_denied', app: app.name, sub: session.sub, rule });
      return { kind: 'forbidden', session, rule };
    }
    const headers = identityHeaders(
      app.config.header_sets,
      { claims: session.claims, accessToken: session.accessToken },
      { app: app.name, provider: app.name },
    );
    return { kind: 'allow', basis: 'session', session, headers };
  }
}
