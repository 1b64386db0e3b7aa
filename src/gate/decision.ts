/**
 * The outcome of the gate for one request. An allow can be built only from a `ValidatedSession`
 * (which only the session layer hands out), a `VerifiedCredential` (which only the Bearer token
 * verifier hands out) or an `Exemption` (which only the exemption matcher hands out), so a code
 * path that forgot to check cannot produce one.
 * @module
 */
import type { IdentityHeaders } from '../identity/header-sets.ts';
import type { VerifiedCredential } from '../oidc/bearer-token.ts';
import type { ValidatedSession } from '../session/sessions.ts';
import type { Exemption } from './exemptions.ts';

export type Decision =
  | {
      kind: 'allow';
      basis: 'session';
      session: ValidatedSession;
      headers: Readonly<IdentityHeaders>;
    }
  | {
      kind: 'allow';
      basis: 'credential';
      credential: VerifiedCredential;
      headers: Readonly<IdentityHeaders>;
    }
  | { kind: 'allow'; basis: 'exemption'; exemption: Exemption; headers: Readonly<IdentityHeaders> }
  /** A navigation without a usable session: start a login that returns to `returnTo`. */
  | { kind: 'login'; returnTo: string; clearSessionCookie: boolean; reason: string }
  /** A request that is not a navigation: 401, never a redirect. */
  | { kind: 'unauthenticated'; clearSessionCookie: boolean; reason: string }
  /** A Bearer token that failed verification: 401 for a machine client, never a login. */
  | { kind: 'invalid_credential'; reason: string }
  | { kind: 'forbidden'; claims: Readonly<Record<string, unknown>>; rule: string }
  | { kind: 'unavailable'; retryAfterSeconds: number; error: Error }
  | { kind: 'bad_request'; reason: string };

export type Allow = Extract<Decision, { kind: 'allow' }>;
