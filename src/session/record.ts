/**
 * What Gatehouse remembers about a signed-in person, and the store interface every backend
 * (memory, SQLite, Redis) implements. Records are keyed by a hash of the cookie's id, so the
 * store never holds a value that works as a cookie.
 * @module
 */

export type Claims = Record<string, unknown>;

export type SessionRecord = {
  /** Hash of the opaque id in the cookie. */
  key: string;
  app: string;
  sub: string;
  /** The provider's session id (`sid` claim), used by back-channel logout. */
  sid?: string;
  /** ID token claims merged with userinfo. */
  claims: Claims;
  idToken?: string;
  accessToken?: string;
  refreshToken?: string;
  /** Epoch ms; undefined when the provider gave no `expires_in`. */
  accessTokenExpiresAt?: number;
  /** Epoch ms at which the current access token was obtained. */
  accessTokenIssuedAt?: number;
  createdAt: number;
  /** Epoch ms of the absolute end of the session. */
  expiresAt: number;
  lastSeenAt: number;
  /** Epoch ms of the last time the claims were confirmed at the provider. */
  validatedAt: number;
};

export type SessionSelector = { app?: string; sub?: string; sid?: string };

export type SessionTouch = { key: string; lastSeenAt: number };

/**
 * A session store. Every method either does what it says or throws `StoreUnavailableError`; a
 * failure to read is never reported as "no such session", because that would sign people out
 * (or worse, let them through) whenever the store has a bad moment.
 */
export interface SessionStore {
  readonly kind: string;
  get(key: string): Promise<SessionRecord | undefined>;
  put(record: SessionRecord): Promise<void>;
  /**
   * Rewrites a record only if it still exists, and says whether it did: a renewal that finishes
   * after a sign-out or logout must not bring the session back.
   */
  update(record: SessionRecord): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every live record that matches all given fields (at least one field must be given). */
  list(selector: SessionSelector): Promise<SessionRecord[]>;
  /** Deletes every record that matches all given fields; returns how many went. */
  deleteWhere(selector: SessionSelector): Promise<number>;
  /** Records the last time sessions were used, in one batch. */
  touch(entries: SessionTouch[]): Promise<void>;
  count(): Promise<number>;
  /**
   * Remembers `id` for `ttlMs` and says whether this was the first time it was seen, across every
   * replica sharing the store. Used for logout token `jti`s.
   */
  claimOnce(id: string, ttlMs: number): Promise<boolean>;
  /** Forgets a claim whose work could not be done, so the same id can be claimed again. */
  forgetClaim(id: string): Promise<void>;
  /** Takes a short lock; returns a token to release it with, or undefined when someone holds it. */
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;
  releaseLock(name: string, token: string): Promise<void>;
  /** Resolves when the store can serve requests. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function matches(record: SessionRecord, selector: SessionSelector): boolean {
  if (selector.app !== undefined && record.app !== selector.app) return false;
  if (selector.sub !== undefined && record.sub !== selector.sub) return false;
  if (selector.sid !== undefined && record.sid !== selector.sid) return false;
  return selector.app !== undefined || selector.sub !== undefined || selector.sid !== undefined;
}
