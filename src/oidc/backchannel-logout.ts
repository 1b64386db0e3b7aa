/**
 * OpenID Connect Back-Channel Logout 1.0: the provider posts a signed logout token and every
 * matching session ends, in every replica, since they share the store. A token that fails any
 * check changes nothing and gets 400 with the reason.
 * @module
 */
import * as jose from 'jose';
import type { Logger } from 'pino';
import type { Application } from '../server/application.ts';
import type { Sessions } from '../session/sessions.ts';
import { ASYMMETRIC_ALGORITHMS } from './claims.ts';
import type { ProviderConfigs } from './provider-configs.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How long a token's `jti` is remembered when the token carries no `exp`. */
const DEFAULT_JTI_MEMORY_MS = 10 * 60_000;
/** Logout tokens are meant to be used at once; an older `iat` is refused. */
const MAX_TOKEN_AGE_SECONDS = 5 * 60;

export type BackchannelLogoutToken = jose.JWTPayload & {
  sid?: string;
  events?: Record<string, unknown>;
};

export type LogoutResult =
  { ok: true; ended: number; apps: string[] } | { ok: false; reason: string };

export class BackchannelLogout {
  readonly #configs: ProviderConfigs;
  readonly #sessions: Sessions;
  readonly #applications: readonly Application[];
  readonly #leewaySeconds: number;
  readonly #log: Logger;
  readonly #keySets = new Map<string, ReturnType<typeof jose.createRemoteJWKSet>>();

  constructor(options: {
    configs: ProviderConfigs;
    sessions: Sessions;
    applications: readonly Application[];
    clockLeewayMs: number;
    log: Logger;
  }) {
    this.#configs = options.configs;
    this.#sessions = options.sessions;
    this.#applications = options.applications;
    this.#leewaySeconds = Math.round(options.clockLeewayMs / 1000);
    this.#log = options.log;
  }

  async handle(logoutToken: string | null): Promise<LogoutResult> {
    if (!logoutToken) return { ok: false, reason: 'logout_token missing' };

    let unverified: jose.JWTPayload;
    try {
      unverified = jose.decodeJwt(logoutToken);
    } catch {
      return { ok: false, reason: 'logout_token is not a JWT' };
    }
    const audiences =
      typeof unverified.aud === 'string' ? [unverified.aud] : (unverified.aud ?? []);
    const apps = this.#applications.filter(
      (app) =>
        app.config.oidc.issuer === unverified.iss && audiences.includes(app.config.oidc.client_id),
    );
    if (!apps.length) return { ok: false, reason: 'no application has this issuer and audience' };

    let token: BackchannelLogoutToken;
    try {
      token = await this.#verify(logoutToken, apps[0]!);
    } catch (error) {
      return { ok: false, reason: `logout_token rejected: ${(error as Error).message}` };
    }
    const problem = checkClaims(token);
    if (problem) return { ok: false, reason: problem };

    const rememberFor = token.exp
      ? token.exp * 1000 - Date.now() + this.#leewaySeconds * 1000
      : DEFAULT_JTI_MEMORY_MS;
    const claim = `logout-jti:${token.iss}:${token.jti}`;
    if (!(await this.#sessions.store.claimOnce(claim, Math.max(rememberFor, 60_000)))) {
      return { ok: false, reason: 'logout_token already used (jti replayed)' };
    }

    let ended = 0;
    try {
      for (const app of apps) {
        ended += await this.#sessions.end({
          app: app.name,
          ...(token.sid ? { sid: token.sid } : {}),
          ...(token.sub && !token.sid ? { sub: token.sub } : {}),
        });
      }
    } catch (error) {
      // The token did not end the sessions, so it is not used up: a provider that delivers it
      // again after the 503 must not be told it is a replay while the sessions stay open.
      await this.#sessions.store.forgetClaim(claim).catch(() => {});
      throw error;
    }
    const names = apps.map((app) => app.name);
    this.#log.info({
      event: 'backchannel_logout',
      apps: names,
      sub: token.sub,
      sid: token.sid,
      ended,
    });
    return { ok: true, ended, apps: names };
  }

  async #verify(logoutToken: string, app: Application): Promise<BackchannelLogoutToken> {
    const config = await this.#configs.get(app);
    const metadata = config.serverMetadata();
    if (!metadata.jwks_uri) throw new Error('the provider publishes no jwks_uri');
    let keys = this.#keySets.get(metadata.jwks_uri);
    if (!keys) {
      keys = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
      this.#keySets.set(metadata.jwks_uri, keys);
    }
    const { payload } = await jose.jwtVerify<BackchannelLogoutToken>(logoutToken, keys, {
      issuer: app.config.oidc.issuer,
      audience: app.config.oidc.client_id,
      clockTolerance: this.#leewaySeconds,
      maxTokenAge: MAX_TOKEN_AGE_SECONDS + this.#leewaySeconds,
      algorithms: ASYMMETRIC_ALGORITHMS,
    });
    return payload;
  }
}

function checkClaims(token: BackchannelLogoutToken): string | undefined {
  if (
    !token.events ||
    typeof token.events !== 'object' ||
    typeof token.events[LOGOUT_EVENT] !== 'object'
  ) {
    return 'logout_token lacks the back-channel logout event';
  }
  if ('nonce' in token) return 'logout_token must not carry a nonce';
  if (!token.sid && !token.sub) return 'logout_token names neither sid nor sub';
  if (!token.jti) return 'logout_token has no jti';
  if (typeof token.iat !== 'number') return 'logout_token has no iat';
  return undefined;
}
