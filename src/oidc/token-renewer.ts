/**
 * The provider side of session renewal: the refresh token grant, or userinfo where there is no
 * refresh token. A refusal by the provider is `revoked`; anything transient throws.
 * @module
 */
import * as client from 'openid-client';
import type { ApplicationRouter } from '../server/application.ts';
import type { Claims } from '../session/record.ts';
import type { Renewed, TokenRenewer } from '../session/renewal.ts';
import { withoutProtocolClaims } from './claims.ts';
import type { ProviderConfigs } from './provider-configs.ts';

export class OidcTokenRenewer implements TokenRenewer {
  readonly #configs: ProviderConfigs;
  readonly #router: ApplicationRouter;
  readonly #now: () => number;

  constructor(options: {
    configs: ProviderConfigs;
    router: ApplicationRouter;
    now?: () => number;
  }) {
    this.#configs = options.configs;
    this.#router = options.router;
    this.#now = options.now ?? Date.now;
  }

  async refresh(appName: string, refreshToken: string, sub: string): Promise<Renewed> {
    const config = await this.#config(appName);
    let tokens;
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken);
    } catch (error) {
      if (isRefusal(error))
        return { kind: 'revoked', reason: `refresh refused: ${describe(error)}` };
      throw error;
    }
    const idClaims = tokens.claims();
    if (idClaims && idClaims.sub !== sub)
      return { kind: 'revoked', reason: 'refreshed ID token names another subject' };
    // The refresh token is spent now: a userinfo hiccup must not throw the new tokens away.
    const userinfo = await this.#userinfoClaims(config, tokens.access_token, sub).catch(() => ({}));
    if (userinfo === 'revoked')
      return { kind: 'revoked', reason: 'userinfo refused the new access token' };

    return {
      kind: 'renewed',
      claims: { ...(idClaims ? withoutProtocolClaims(idClaims) : {}), ...userinfo },
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      idToken: tokens.id_token,
      accessTokenExpiresAt: tokens.expires_in ? this.#now() + tokens.expires_in * 1000 : undefined,
    };
  }

  async userinfo(appName: string, accessToken: string, sub: string): Promise<Renewed> {
    const config = await this.#config(appName);
    const claims = await this.#userinfoClaims(config, accessToken, sub);
    if (claims === 'revoked')
      return { kind: 'revoked', reason: 'userinfo refused the access token' };
    return { kind: 'renewed', claims };
  }

  async #userinfoClaims(
    config: client.Configuration,
    accessToken: string,
    sub: string,
  ): Promise<Claims | 'revoked'> {
    if (!config.serverMetadata().userinfo_endpoint) return {};
    try {
      return await client.fetchUserInfo(config, accessToken, sub);
    } catch (error) {
      if (isRefusal(error)) return 'revoked';
      throw error;
    }
  }

  #config(appName: string): Promise<client.Configuration> {
    const app = this.#router.byName(appName);
    if (!app) throw new Error(`no application named ${appName}`);
    return this.#configs.get(app);
  }
}

/** The provider's considered answer that the grant or token is no longer good. */
function isRefusal(error: unknown): boolean {
  // Userinfo naming another subject than the session's: that token is not this person's any more.
  if ((error as { code?: string } | undefined)?.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED')
    return true;
  if (error instanceof client.ResponseBodyError)
    return error.error === 'invalid_grant' || error.status === 401;
  if (error instanceof client.WWWAuthenticateChallengeError) return error.status === 401;
  return false;
}

function describe(error: unknown): string {
  return error instanceof client.ResponseBodyError ? error.error : (error as Error).message;
}
