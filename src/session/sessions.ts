/**
 * The session layer: turns the cookies of one request into a validated session, or says precisely
 * why there is none. Only this module can produce a `ValidatedSession`, which is what an allow
 * decision for a person is built from.
 * @module
 */
import type { Logger } from 'pino';
import { isStoreUnavailable } from '../errors.ts';
import type { CookieJar } from '../http/cookies.ts';
import type { Claims, SessionRecord, SessionSelector, SessionStore } from './record.ts';
import type { Renewal } from './renewal.ts';
import { newSessionId, storeKeyOf, type SessionCookieSpec } from './session-cookie.ts';

declare const validated: unique symbol;

/** A session loaded from the store and checked during this request. */
export type ValidatedSession = Readonly<SessionRecord> & { readonly [validated]: true };

export type SessionLookup =
  | { kind: 'valid'; session: ValidatedSession }
  /** `stale`: the request carried a session cookie, but it holds no usable session. */
  | { kind: 'absent'; stale: boolean; reason: string }
  | { kind: 'unavailable'; error: Error };

export type NewSession = {
  sub: string;
  sid?: string | undefined;
  claims: Claims;
  idToken?: string | undefined;
  accessToken?: string | undefined;
  refreshToken?: string | undefined;
  accessTokenExpiresAt?: number | undefined;
};

export type SessionPolicy = { lifetimeMs: number; idleTimeoutMs: number };

const TOUCH_FLUSH_MS = 30_000;

export class Sessions {
  readonly store: SessionStore;
  readonly #key: Buffer;
  readonly #policy: SessionPolicy;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pendingTouches = new Map<string, number>();
  readonly #flusher: NodeJS.Timeout;
  readonly #renewal: Renewal | undefined;

  constructor(options: {
    store: SessionStore;
    cookieKey: Buffer;
    policy: SessionPolicy;
    log: Logger;
    renewal?: Renewal;
    now?: () => number;
  }) {
    this.#renewal = options.renewal;
    this.store = options.store;
    this.#key = options.cookieKey;
    this.#policy = options.policy;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#flusher = setInterval(() => void this.flushTouches(), TOUCH_FLUSH_MS);
    this.#flusher.unref();
  }

  /** Loads the session of `app` from the request's cookies, trying each value of the name. */
  async load(app: string, spec: SessionCookieSpec, cookies: CookieJar): Promise<SessionLookup> {
    const values = cookies.get(spec.name);
    if (!values?.length) return { kind: 'absent', stale: false, reason: 'no cookie' };

    let reason = 'cookie not issued by this gatehouse';
    for (const value of values) {
      const key = storeKeyOf(this.#key, value);
      if (!key) continue;

      let record: SessionRecord | undefined;
      try {
        record = await this.store.get(key);
      } catch (error) {
        if (isStoreUnavailable(error)) return { kind: 'unavailable', error };
        throw error;
      }

      const problem = this.#problemWith(record, app);
      if (problem) {
        reason = problem;
        continue;
      }
      if (this.#renewal?.isDue(record!)) {
        const renewed = await this.#renewal.renew(record!);
        if (renewed.kind === 'unavailable') return renewed;
        if (renewed.kind === 'ended') {
          reason = renewed.reason;
          continue;
        }
        record = renewed.record;
      }
      this.#touch(record!);
      return { kind: 'valid', session: record as ValidatedSession };
    }
    return { kind: 'absent', stale: true, reason };
  }

  /** Stores a new session and returns the cookie value that refers to it. */
  async create(
    app: string,
    data: NewSession,
  ): Promise<{ cookieValue: string; record: SessionRecord }> {
    const now = this.#now();
    const { cookieValue, storeKey } = newSessionId(this.#key);
    const record: SessionRecord = {
      key: storeKey,
      app,
      ...definedOnly({
        sub: data.sub,
        sid: data.sid,
        claims: data.claims,
        idToken: data.idToken,
        accessToken: data.accessToken,
        refreshToken: data.refreshToken,
        accessTokenExpiresAt: data.accessTokenExpiresAt,
        accessTokenIssuedAt: data.accessToken ? now : undefined,
      }),
      createdAt: now,
      expiresAt: now + this.#policy.lifetimeMs,
      lastSeenAt: now,
      validatedAt: now,
    };
    await this.store.put(record);
    return { cookieValue, record };
  }

  async end(selector: SessionSelector): Promise<number> {
    return this.store.deleteWhere(selector);
  }

  lifetimeSeconds(record: SessionRecord): number {
    return Math.max(0, Math.floor((record.expiresAt - this.#now()) / 1000));
  }

  async flushTouches(): Promise<void> {
    if (!this.#pendingTouches.size) return;
    const entries = [...this.#pendingTouches].map(([key, lastSeenAt]) => ({ key, lastSeenAt }));
    this.#pendingTouches.clear();
    try {
      await this.store.touch(entries);
    } catch (error) {
      this.#log.warn({ event: 'session_touch_failed', count: entries.length, err: error });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#flusher);
    await this.flushTouches();
  }

  #problemWith(record: SessionRecord | undefined, app: string): string | undefined {
    if (!record) return 'session not found';
    if (record.app !== app) return 'session belongs to another application';
    const now = this.#now();
    if (record.expiresAt <= now) return 'session expired';
    const lastSeen = Math.max(record.lastSeenAt, this.#pendingTouches.get(record.key) ?? 0);
    if (now - lastSeen > this.#policy.idleTimeoutMs) return 'session idle too long';
    return undefined;
  }

  // The idle clock moves on every request without a store write; writes are batched.
  #touch(record: SessionRecord): void {
    this.#pendingTouches.set(record.key, this.#now());
  }
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
