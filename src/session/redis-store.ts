/**
 * Sessions in Redis or Valkey, so several Gatehouse replicas share sign-ins and logouts.
 *
 * Key layout, all under `keyPrefix`:
 *
 * - `session:KEY`: the record as JSON, expiring (PX) with the session;
 * - `seen:KEY`: a one-member sorted set holding the last-seen time as its score, with the
 *   record's TTL. `ZADD XX GT` raises it without ever creating it, so a batch of touches is one
 *   pipeline, cannot go backwards and cannot resurrect a deleted session;
 * - `sub:SUB`, `sid:SID`: sets of record keys for logout by subject or provider session, expiring
 *   no earlier than their longest-lived member;
 * - `claim:ID` and `lock:NAME`: `SET NX PX` keys for one-time claims and short locks.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

import { GatehouseError, StoreUnavailableError } from '../errors.ts';
import {
  matches,
  type SessionRecord,
  type SessionSelector,
  type SessionStore,
  type SessionTouch,
} from './record.ts';

export type RedisSessionStoreOptions = {
  /** `redis://[user:password@]host:port/db` or `rediss://...` for TLS. */
  url: string;
  /** Upper bound for every store call, connected or not. Default 1000 ms. */
  timeoutMs?: number;
  /** Default `gatehouse:`. */
  keyPrefix?: string;
  now?: () => number;
  /** Receives connection errors; the client reconnects by itself, so they are only news. */
  onError?: (error: Error) => void;
};

const SEEN_MEMBER = 'at';

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A `SessionStore` on one Redis or Valkey server (7.0 or later, for `PEXPIRE NX|GT`).
 *
 * The constructor returns at once and the client connects, and reconnects, in the background:
 * Gatehouse starts while the store is down and answers 503 until it is reachable. No call waits
 * for a connection; while disconnected each one fails at once, and one that gets no answer fails
 * after `timeoutMs`, always as `StoreUnavailableError`.
 *
 * Limitation: a single endpoint. A Redis Cluster would need the record and its index keys in one
 * hash slot (a `{...}` hash tag) for the MULTI blocks here to run.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  readonly #client: Redis;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(options: RedisSessionStoreOptions) {
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#prefix = options.keyPrefix ?? 'gatehouse:';
    this.#now = options.now ?? Date.now;
    checkUrl(options.url);

    this.#client = new Redis(options.url, {
      // A queued command would run whenever the server came back, long after its caller got a
      // 503; failing at once while disconnected keeps every call bounded and nothing replayed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.#timeoutMs,
      connectTimeout: 2 * this.#timeoutMs,
      disconnectTimeout: this.#timeoutMs,
      // A server that stalls (or a network path that silently drops packets) leaves the socket
      // open; dropping it after a few unanswered timeouts makes the client dial a fresh one.
      socketTimeout: 3 * this.#timeoutMs,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      protocol: 2,
      maintNotifications: 'disabled',
    });
    const onError = options.onError ?? (() => {});
    this.#client.on('error', onError);
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    return this.#run('get', async () => {
      const [json, seen] = results(
        await this.#client
          .pipeline()
          .get(this.#sessionKey(key))
          .zscore(this.#seenKey(key), SEEN_MEMBER)
          .exec(),
      );
      if (typeof json !== 'string') return undefined;

      const record = JSON.parse(json) as SessionRecord;
      if (record.expiresAt <= this.#now()) return undefined;
      if (seen !== null) record.lastSeenAt = Math.max(record.lastSeenAt, Number(seen));
      return record;
    });
  }

  async put(record: SessionRecord): Promise<void> {
    await this.#run('put', async () => {
      const { key, sub, sid } = record;
      const ttl = Math.ceil(record.expiresAt - this.#now());
      const transaction = this.#client.multi();

      if (ttl <= 0) {
        // An expired rewrite must not leave the previous version readable.
        transaction.del(this.#sessionKey(key), this.#seenKey(key));
      } else {
        transaction
          .set(this.#sessionKey(key), JSON.stringify(record), 'PX', ttl)
          .zadd(this.#seenKey(key), 'GT', record.lastSeenAt, SEEN_MEMBER)
          .pexpire(this.#seenKey(key), ttl);
        for (const index of this.#indexKeys(sub, sid)) {
          transaction.sadd(index, key).pexpire(index, ttl, 'NX').pexpire(index, ttl, 'GT');
        }
      }
      results(await transaction.exec());
    });
  }

  async update(record: SessionRecord): Promise<boolean> {
    return this.#run('update', async () => {
      const { key, sub, sid } = record;
      const ttl = Math.ceil(record.expiresAt - this.#now());
      if (ttl <= 0) return false;
      // XX: only an existing record is rewritten, so a deleted session stays deleted. The rest
      // only ever adds index entries, which a later delete or expiry removes.
      const written = await this.#client.set(
        this.#sessionKey(key),
        JSON.stringify(record),
        'PX',
        ttl,
        'XX',
      );
      if (written !== 'OK') return false;
      const transaction = this.#client.multi();
      for (const index of this.#indexKeys(sub, sid)) {
        transaction.sadd(index, key).pexpire(index, ttl, 'NX').pexpire(index, ttl, 'GT');
      }
      results(await transaction.exec());
      return true;
    });
  }

  async delete(key: string): Promise<void> {
    await this.#run('delete', async () => {
      const json = await this.#client.get(this.#sessionKey(key));
      const record = typeof json === 'string' ? parseOrUndefined(json) : undefined;

      const transaction = this.#client.multi().del(this.#sessionKey(key), this.#seenKey(key));
      for (const index of this.#indexKeys(record?.sub, record?.sid)) transaction.srem(index, key);
      results(await transaction.exec());
    });
  }

  async list(selector: SessionSelector): Promise<SessionRecord[]> {
    if (!matchesAnything(selector)) return [];
    return this.#run('list', async () => {
      const now = this.#now();
      return (await this.#select(selector)).found.filter((record) => record.expiresAt > now);
    });
  }

  async deleteWhere(selector: SessionSelector): Promise<number> {
    if (!matchesAnything(selector)) return 0;
    return this.#run('deleteWhere', async () => {
      const { index, found, gone } = await this.#select(selector);
      if (!found.length && !gone.length) return 0;

      // The record DELs come first so their replies, in order, say which records went.
      const transaction = this.#client.multi();
      for (const { key } of found) transaction.del(this.#sessionKey(key));
      for (const { key, sub, sid } of found) {
        transaction.del(this.#seenKey(key));
        for (const set of this.#indexKeys(sub, sid)) transaction.srem(set, key);
      }
      if (index && gone.length) transaction.srem(index, ...gone);

      const replies = results(await transaction.exec());
      return replies.slice(0, found.length).reduce<number>((sum, n) => sum + Number(n), 0);
    });
  }

  async touch(entries: SessionTouch[]): Promise<void> {
    if (!entries.length) return;
    await this.#run('touch', async () => {
      const pipeline = this.#client.pipeline();
      for (const { key, lastSeenAt } of entries) {
        pipeline.zadd(this.#seenKey(key), 'XX', 'GT', lastSeenAt, SEEN_MEMBER);
      }
      results(await pipeline.exec());
    });
  }

  async count(): Promise<number> {
    return this.#run('count', async () => (await this.#scanSessionKeys()).length);
  }

  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    return this.#run('claimOnce', async () => {
      const set = await this.#client.set(`${this.#prefix}claim:${id}`, '1', 'PX', ms(ttlMs), 'NX');
      return set === 'OK';
    });
  }

  async forgetClaim(id: string): Promise<void> {
    await this.#run('forgetClaim', () => this.#client.del(`${this.#prefix}claim:${id}`));
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    return this.#run('acquireLock', async () => {
      const token = randomUUID();
      const set = await this.#client.set(this.#lockKey(name), token, 'PX', ms(ttlMs), 'NX');
      return set === 'OK' ? token : undefined;
    });
  }

  async releaseLock(name: string, token: string): Promise<void> {
    // Compare and delete in one step: a lock that expired and was taken by another replica
    // between a GET and a DEL would otherwise be released from under it.
    await this.#run('releaseLock', () =>
      this.#client.eval(RELEASE_LOCK, 1, this.#lockKey(name), token),
    );
  }

  async ping(): Promise<void> {
    await this.#run('ping', () => this.#client.ping());
  }

  async close(): Promise<void> {
    try {
      await this.#run('close', () => this.#client.quit());
    } catch {
      // A server that is gone cannot be told goodbye; the socket still has to go.
    } finally {
      if (this.#client.status !== 'end') this.#client.disconnect();
    }
  }

  /**
   * Runs one store call under a deadline of its own, so the bound holds whatever state the
   * client is in, and turns every failure into `StoreUnavailableError`.
   */
  async #run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const state = this.#client.status;
      throw new StoreUnavailableError(`redis session store: ${operation} (${state}): ${reason}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The records a selector picks, found through its narrowest index, and the index entries whose
   * records have expired or were deleted.
   */
  async #select(
    selector: SessionSelector,
  ): Promise<{ index: string | undefined; found: SessionRecord[]; gone: string[] }> {
    const index = this.#narrowestIndex(selector);
    const keys = index ? await this.#client.smembers(index) : await this.#scanSessionKeys();
    const found: SessionRecord[] = [];
    const gone: string[] = [];
    if (!keys.length) return { index, found, gone };

    const pipeline = this.#client.pipeline();
    for (const key of keys)
      pipeline.get(this.#sessionKey(key)).zscore(this.#seenKey(key), SEEN_MEMBER);
    const replies = results(await pipeline.exec());

    keys.forEach((key, i) => {
      const json = replies[2 * i];
      const seen = replies[2 * i + 1];
      if (typeof json !== 'string') {
        gone.push(key);
        return;
      }
      const record = parseOrUndefined(json);
      if (!record || !matches(record, selector)) return;
      if (seen !== null) record.lastSeenAt = Math.max(record.lastSeenAt, Number(seen));
      found.push(record);
    });
    return { index, found, gone };
  }

  async #scanSessionKeys(): Promise<string[]> {
    const prefix = this.#sessionKey('');
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.#client.scan(
        cursor,
        'MATCH',
        `${glob(prefix)}*`,
        'COUNT',
        1000,
      );
      for (const name of batch) found.add(name.slice(prefix.length));
      cursor = next;
    } while (cursor !== '0');
    return [...found];
  }

  #narrowestIndex(selector: SessionSelector): string | undefined {
    if (selector.sid !== undefined) return this.#sidKey(selector.sid);
    if (selector.sub !== undefined) return this.#subKey(selector.sub);
    // Limitation: `{ app }` alone walks every session with SCAN; an `app:APP` index would lift it
    // if whole-application logouts become routine.
    return undefined;
  }

  #indexKeys(sub: string | undefined, sid: string | undefined): string[] {
    const keys: string[] = [];
    if (sub !== undefined) keys.push(this.#subKey(sub));
    if (sid !== undefined) keys.push(this.#sidKey(sid));
    return keys;
  }

  #sessionKey(key: string): string {
    return `${this.#prefix}session:${key}`;
  }

  #seenKey(key: string): string {
    return `${this.#prefix}seen:${key}`;
  }

  #lockKey(name: string): string {
    return `${this.#prefix}lock:${name}`;
  }

  #subKey(sub: string): string {
    return `${this.#prefix}sub:${sub}`;
  }

  #sidKey(sid: string): string {
    return `${this.#prefix}sid:${sid}`;
  }
}

type Replies = [error: Error | null, result: unknown][] | null;

/** The results of a pipeline or MULTI, or the first error in it. */
function results(replies: Replies): unknown[] {
  // exec() gives null only for a transaction aborted by WATCH, which these never use.
  if (replies === null) throw new Error('transaction aborted');
  return replies.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

/** PX takes a positive whole number of milliseconds. */
function ms(duration: number): number {
  return Math.max(1, Math.ceil(duration));
}

function parseOrUndefined(json: string): SessionRecord | undefined {
  try {
    return JSON.parse(json) as SessionRecord;
  } catch {
    return undefined;
  }
}

function matchesAnything(selector: SessionSelector): boolean {
  return selector.app !== undefined || selector.sub !== undefined || selector.sid !== undefined;
}

/** Escapes SCAN's glob characters, so a prefix like `a*:` matches only itself. */
function glob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&');
}

function checkUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch (error) {
    throw new GatehouseError('GATEHOUSE_ERR_CONFIG', 'session.redis_url is not a URL', {
      cause: error,
    });
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new GatehouseError(
      'GATEHOUSE_ERR_CONFIG',
      `session.redis_url must start with redis:// or rediss://, not ${protocol}//`,
    );
  }
}
