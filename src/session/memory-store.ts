import { randomUUID } from 'node:crypto';
import {
  matches,
  type SessionRecord,
  type SessionSelector,
  type SessionStore,
  type SessionTouch,
} from './record.ts';

/** Sessions in process memory: gone on restart, which sends returning users to a clean login. */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  readonly #records = new Map<string, SessionRecord>();
  readonly #claims = new Map<string, number>();
  readonly #locks = new Map<string, { token: string; until: number }>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const record = this.#records.get(key);
    if (!record) return undefined;
    if (record.expiresAt <= this.#now()) {
      this.#records.delete(key);
      return undefined;
    }
    // A shallow copy is enough: nothing changes a record's claims in place.
    return { ...record };
  }

  async put(record: SessionRecord): Promise<void> {
    this.#records.set(record.key, structuredClone(record));
  }

  async update(record: SessionRecord): Promise<boolean> {
    if (!this.#records.has(record.key)) return false;
    this.#records.set(record.key, structuredClone(record));
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#records.delete(key);
  }

  async list(selector: SessionSelector): Promise<SessionRecord[]> {
    const now = this.#now();
    return [...this.#records.values()]
      .filter((record) => record.expiresAt > now && matches(record, selector))
      .map((record) => structuredClone(record));
  }

  async deleteWhere(selector: SessionSelector): Promise<number> {
    let deleted = 0;
    for (const [key, record] of this.#records) {
      if (matches(record, selector)) {
        this.#records.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  async touch(entries: SessionTouch[]): Promise<void> {
    for (const { key, lastSeenAt } of entries) {
      const record = this.#records.get(key);
      if (record && record.lastSeenAt < lastSeenAt) record.lastSeenAt = lastSeenAt;
    }
  }

  async count(): Promise<number> {
    return this.#records.size;
  }

  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    for (const [key, until] of this.#claims) if (until <= now) this.#claims.delete(key);
    if (this.#claims.has(id)) return false;
    this.#claims.set(id, now + ttlMs);
    return true;
  }

  async forgetClaim(id: string): Promise<void> {
    this.#claims.delete(id);
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const now = this.#now();
    const held = this.#locks.get(name);
    if (held && held.until > now) return undefined;
    const token = randomUUID();
    this.#locks.set(name, { token, until: now + ttlMs });
    return token;
  }

  async releaseLock(name: string, token: string): Promise<void> {
    if (this.#locks.get(name)?.token === token) this.#locks.delete(name);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#records.clear();
  }
}
