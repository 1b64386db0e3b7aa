/**
 * Keeping a session's tokens and claims current: refresh shortly before the access token expires,
 * and confirm the claims at the provider every `revalidate_interval`. One renewal per session at a
 * time, within a process (a shared promise) and across replicas (a short lock in the store).
 * @module
 */
import type { Logger } from 'pino';
import { isStoreUnavailable } from '../errors.ts';
import type { Claims, SessionRecord, SessionStore } from './record.ts';

/** What the provider said when asked to renew. */
export type Renewed =
  | {
      kind: 'renewed';
      claims?: Claims | undefined;
      accessToken?: string | undefined;
      refreshToken?: string | undefined;
      idToken?: string | undefined;
      accessTokenExpiresAt?: number | undefined;
    }
  /** The provider refused (`invalid_grant`, a revoked token): the session must end. */
  | { kind: 'revoked'; reason: string };

/** Talks to the provider; throws on transient failures (network, 5xx). */
export interface TokenRenewer {
  refresh(app: string, refreshToken: string, sub: string): Promise<Renewed>;
  userinfo(app: string, accessToken: string, sub: string): Promise<Renewed>;
}

export type RenewalOutcome =
  | { kind: 'current'; record: SessionRecord }
  | { kind: 'ended'; reason: string }
  | { kind: 'unavailable'; error: Error };

const LOCK_TTL_MS = 10_000;
const WAIT_FOR_OTHER_MS = 3_000;
const POLL_MS = 50;
const MAX_REFRESH_MARGIN_MS = 30_000;
const RETRY_AFTER_FAILURE_MS = 30_000;

export class Renewal {
  readonly #store: SessionStore;
  readonly #renewer: TokenRenewer;
  readonly #revalidateMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<RenewalOutcome>>();
  readonly #backoff = new Map<string, number>();

  constructor(options: {
    store: SessionStore;
    renewer: TokenRenewer;
    revalidateIntervalMs: number;
    log: Logger;
    now?: () => number;
  }) {
    this.#store = options.store;
    this.#renewer = options.renewer;
    this.#revalidateMs = options.revalidateIntervalMs;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  isDue(record: SessionRecord): boolean {
    const now = this.#now();
    if ((this.#backoff.get(record.key) ?? 0) > now) return false;
    return this.#refreshDue(record, now) || now - record.validatedAt >= this.#revalidateMs;
  }

  /** Renews `record` if due; concurrent callers for one session share one renewal. */
  renew(record: SessionRecord): Promise<RenewalOutcome> {
    const running = this.#inFlight.get(record.key);
    if (running) return running;
    const renewal = this.#renewOnce(record).finally(() => this.#inFlight.delete(record.key));
    this.#inFlight.set(record.key, renewal);
    return renewal;
  }

  #refreshDue(record: SessionRecord, now: number): boolean {
    if (!record.refreshToken || record.accessTokenExpiresAt === undefined) return false;
    const lifetime = record.accessTokenExpiresAt - (record.accessTokenIssuedAt ?? record.createdAt);
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, Math.max(0, lifetime / 2));
    return record.accessTokenExpiresAt - now <= margin;
  }

  async #renewOnce(record: SessionRecord): Promise<RenewalOutcome> {
    const lock = `renew:${record.key}`;
    let token: string | undefined;
    try {
      token = await this.#store.acquireLock(lock, LOCK_TTL_MS);
      if (!token) return await this.#awaitOther(record);

      // Another replica may have finished a renewal between our read and our lock.
      const latest = await this.#store.get(record.key);
      if (!latest) return { kind: 'ended', reason: 'session ended during renewal' };
      if (!this.isDue(latest)) return { kind: 'current', record: latest };
      return await this.#renewWithProvider(latest);
    } catch (error) {
      if (isStoreUnavailable(error)) return { kind: 'unavailable', error };
      throw error;
    } finally {
      if (token) await this.#store.releaseLock(lock, token).catch(() => {});
    }
  }

  async #renewWithProvider(record: SessionRecord): Promise<RenewalOutcome> {
    const now = this.#now();
    let renewed: Renewed;
    try {
      renewed =
        record.refreshToken !== undefined
          ? await this.#renewer.refresh(record.app, record.refreshToken, record.sub)
          : await this.#renewer.userinfo(record.app, record.accessToken ?? '', record.sub);
    } catch (error) {
      // A provider that is down says nothing about the person: keep the session, try later.
      this.#backoff.set(record.key, now + RETRY_AFTER_FAILURE_MS);
      this.#log.warn({
        event: 'session_renewal_failed',
        app: record.app,
        sub: record.sub,
        err: error,
      });
      return { kind: 'current', record };
    }

    if (renewed.kind === 'revoked') {
      await this.#store.delete(record.key);
      this.#log.info({
        event: 'session_revoked',
        app: record.app,
        sub: record.sub,
        reason: renewed.reason,
      });
      return { kind: 'ended', reason: renewed.reason };
    }

    const next: SessionRecord = {
      ...record,
      claims: renewed.claims
        ? { ...record.claims, ...renewed.claims, sub: record.sub }
        : record.claims,
      validatedAt: now,
    };
    if (renewed.accessToken) {
      next.accessToken = renewed.accessToken;
      next.accessTokenIssuedAt = now;
      if (renewed.accessTokenExpiresAt !== undefined)
        next.accessTokenExpiresAt = renewed.accessTokenExpiresAt;
      else delete next.accessTokenExpiresAt;
    }
    if (renewed.refreshToken) next.refreshToken = renewed.refreshToken;
    if (renewed.idToken) next.idToken = renewed.idToken;
    if (!(await this.#store.update(next))) {
      return { kind: 'ended', reason: 'session ended during renewal' };
    }
    this.#backoff.delete(record.key);
    this.#log.debug({ event: 'session_renewed', app: record.app, sub: record.sub });
    return { kind: 'current', record: next };
  }

  /** Another replica holds the lock: wait for its result, or carry on with what we have. */
  async #awaitOther(record: SessionRecord): Promise<RenewalOutcome> {
    const deadline = this.#now() + WAIT_FOR_OTHER_MS;
    while (this.#now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const latest = await this.#store.get(record.key);
      if (!latest) return { kind: 'ended', reason: 'session ended during renewal' };
      if (latest.validatedAt !== record.validatedAt || latest.accessToken !== record.accessToken) {
        return { kind: 'current', record: latest };
      }
    }
    return { kind: 'current', record };
  }
}
