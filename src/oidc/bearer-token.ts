/**
 * Machine clients: an `Authorization: Bearer <JWT>` verified against the provider's published
 * keys, for applications with `intercept_header_auth`. This is the only module that can produce a
 * `VerifiedCredential`, the basis of an allow for a machine client; it mints no session.
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import * as jose from 'jose';
import { GatehouseError } from '../errors.ts';
import type { Application } from '../server/application.ts';
import type { Claims } from '../session/record.ts';
import { ASYMMETRIC_ALGORITHMS } from './claims.ts';
import type { ProviderConfigs } from './provider-configs.ts';

declare const verified: unique symbol;

/** A Bearer JWT whose signature, issuer, audience and lifetime were checked during this request. */
export type VerifiedCredential = {
  readonly sub: string;
  readonly claims: Readonly<Claims>;
  readonly [verified]: true;
};

export type BearerOutcome =
  | { kind: 'verified'; credential: VerifiedCredential }
  | { kind: 'invalid'; reason: string }
  | { kind: 'unavailable'; error: Error };

/** `typ` values of access tokens (RFC 9068) and of plain JWTs; ID and logout tokens differ. */
const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The token of an `Authorization: Bearer` header, undefined when there is none. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer[ \t]+(\S*)[ \t]*$/i.exec(headers.authorization ?? '');
  return match ? match[1]! : undefined;
}

export class BearerVerifier {
  readonly #configs: ProviderConfigs;
  readonly #leewaySeconds: number;
  readonly #keySets = new Map<string, ReturnType<typeof jose.createRemoteJWKSet>>();

  constructor(options: { configs: ProviderConfigs; clockLeewayMs: number }) {
    this.#configs = options.configs;
    this.#leewaySeconds = Math.round(options.clockLeewayMs / 1000);
  }

  async verify(app: Application, token: string): Promise<BearerOutcome> {
    if (!COMPACT_JWT.test(token)) return { kind: 'invalid', reason: 'not a signed JWT' };
    try {
      const type = jose.decodeProtectedHeader(token).typ;
      if (type !== undefined && !ACCEPTED_TYPES.has(type.toLowerCase())) {
        return { kind: 'invalid', reason: `token type ${type} is not an access token` };
      }
    } catch {
      return { kind: 'invalid', reason: 'not a signed JWT' };
    }

    let payload: jose.JWTPayload;
    try {
      const keys = await this.#keys(app);
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: app.config.oidc.issuer,
        audience: app.config.bearer_audience ?? app.config.oidc.client_id,
        algorithms: ASYMMETRIC_ALGORITHMS,
        clockTolerance: this.#leewaySeconds,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      return failure(error);
    }

    // An ID token (it carries the login's nonce) or a logout token is addressed to Gatehouse
    // itself, not a credential for calling the application: refusing them stops a token seen in
    // a sign-out redirect from being replayed as an API key.
    if ('nonce' in payload) return { kind: 'invalid', reason: 'an ID token is not a credential' };
    if ('events' in payload)
      return { kind: 'invalid', reason: 'a logout token is not a credential' };

    const credential = { sub: payload.sub!, claims: payload as Claims } as VerifiedCredential;
    return { kind: 'verified', credential };
  }

  async #keys(app: Application) {
    const config = await this.#configs.get(app);
    const uri = config.serverMetadata().jwks_uri;
    if (!uri) {
      throw new GatehouseError(
        'GATEHOUSE_ERR_PROVIDER_UNAVAILABLE',
        'the provider publishes no jwks_uri',
      );
    }
    let keys = this.#keySets.get(uri);
    if (!keys) {
      keys = jose.createRemoteJWKSet(new URL(uri));
      this.#keySets.set(uri, keys);
    }
    return keys;
  }
}

/**
 * A token that fails a check is invalid (401); a provider whose keys cannot be fetched leaves
 * the token unverifiable, which is an outage (503), never an allow.
 */
function failure(error: unknown): BearerOutcome {
  const unreachable =
    error instanceof GatehouseError ||
    !(error instanceof jose.errors.JOSEError) ||
    error.code === 'ERR_JWKS_TIMEOUT' ||
    error.code === 'ERR_JWKS_INVALID';
  if (unreachable) {
    return {
      kind: 'unavailable',
      error: error instanceof Error ? error : new Error(String(error)),
    };
  }
  const reason =
    error instanceof jose.errors.JWTClaimValidationFailed
      ? `${error.claim} ${error.reason}: ${error.message}`
      : error.message;
  return { kind: 'invalid', reason };
}
