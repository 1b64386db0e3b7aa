import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../errors.ts';
import type { SessionRecord, SessionSelector, SessionStore, SessionTouch } from './record.ts';

const RECENT_READ_MS = 1000;
const RECENT_READS = 10_000;

/**
 * Sessions in a SQLite file (node:sqlite). Survives restarts; expired rows are swept periodically.
 * node:sqlite is synchronous, so a call cannot time out: a local file is assumed to answer.
 *
 * Limitation: meant for one Gatehouse process per file. A second process writing the same file
 * is seen within a second (reads are kept that long); replicas share a Redis store instead.
 */

export class SqliteSessionStore implements SessionStore {
  readonly kind = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #statements: Record<
    | 'get'
    | 'update'
    | 'put'
    | 'delete'
    | 'touch'
    | 'count'
    | 'sweep'
    | 'claim'
    | 'unclaim'
    | 'lock'
    | 'unlock',
    StatementSync
  >;
  readonly #sweeper: NodeJS.Timeout;
  readonly #recent = new Map<string, { record: SessionRecord; until: number }>();

  constructor(path: string, options: { now?: () => number; sweepIntervalMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    // The records hold the provider's tokens: only Gatehouse's own user may read them.
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 1000;
      CREATE TABLE IF NOT EXISTS sessions (
        key TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        sub TEXT NOT NULL,
        sid TEXT,
        expires_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        data TEXT NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS sessions_sub ON sessions (sub);
      CREATE INDEX IF NOT EXISTS sessions_sid ON sessions (sid);
      CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
      CREATE TABLE IF NOT EXISTS claims (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS locks (
        name TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL
      ) STRICT;
    `);
    this.#statements = {
      get: this.#db.prepare(
        'SELECT data, last_seen_at FROM sessions WHERE key = ? AND expires_at > ?',
      ),
      put: this.#db.prepare(
        `INSERT OR REPLACE INTO sessions (key, app, sub, sid, expires_at, last_seen_at, data)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      update: this.#db.prepare(
        `UPDATE sessions SET app = ?, sub = ?, sid = ?, expires_at = ?, last_seen_at = ?, data = ?
         WHERE key = ?`,
      ),
      delete: this.#db.prepare('DELETE FROM sessions WHERE key = ?'),
      touch: this.#db.prepare(
        'UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE key = ?',
      ),
      count: this.#db.prepare('SELECT COUNT(*) AS n FROM sessions'),
      sweep: this.#db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
      claim: this.#db.prepare(
        `INSERT INTO claims (id, expires_at) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET expires_at = ?2 WHERE claims.expires_at <= ?3`,
      ),
      unclaim: this.#db.prepare('DELETE FROM claims WHERE id = ?'),
      lock: this.#db.prepare(
        `INSERT INTO locks (name, token, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET token = ?2, expires_at = ?3 WHERE locks.expires_at <= ?4`,
      ),
      unlock: this.#db.prepare('DELETE FROM locks WHERE name = ? AND token = ?'),
    };
    this.#sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.#sweeper.unref();
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const now = this.#now();
    const cached = this.#recent.get(key);
    if (cached && cached.until > now && cached.record.expiresAt > now) return { ...cached.record };

    const row = this.#run(() => this.#statements.get.get(key, now)) as
      { data: string; last_seen_at: number } | undefined;
    if (!row) return undefined;
    const record = JSON.parse(row.data) as SessionRecord;
    record.lastSeenAt = Math.max(record.lastSeenAt, row.last_seen_at);
    this.#remember(record, now);
    return { ...record };
  }

  /**
   * Reads are served from memory for a second. Every write through this store forgets what it
   * changes at once, so the delay applies only to another process writing the same file.
   */
  #remember(record: SessionRecord, now: number): void {
    if (this.#recent.size >= RECENT_READS) this.#recent.delete(this.#recent.keys().next().value!);
    this.#recent.set(record.key, { record, until: now + RECENT_READ_MS });
  }

  async put(record: SessionRecord): Promise<void> {
    this.#recent.delete(record.key);
    const { key, app, sub, sid, expiresAt, lastSeenAt } = record;
    this.#run(() =>
      this.#statements.put.run(
        key,
        app,
        sub,
        sid ?? null,
        expiresAt,
        lastSeenAt,
        JSON.stringify(record),
      ),
    );
  }

  async update(record: SessionRecord): Promise<boolean> {
    this.#recent.delete(record.key);
    const { key, app, sub, sid, expiresAt, lastSeenAt } = record;
    const result = this.#run(() =>
      this.#statements.update.run(
        app,
        sub,
        sid ?? null,
        expiresAt,
        lastSeenAt,
        JSON.stringify(record),
        key,
      ),
    );
    return Number(result.changes) === 1;
  }

  async delete(key: string): Promise<void> {
    this.#recent.delete(key);
    this.#run(() => this.#statements.delete.run(key));
  }

  async list(selector: SessionSelector): Promise<SessionRecord[]> {
    const where = whereClause(selector);
    if (!where) return [];
    const sql = `SELECT data, last_seen_at FROM sessions WHERE ${where.sql} AND expires_at > ?`;
    const rows = this.#run(() => this.#db.prepare(sql).all(...where.values, this.#now())) as Array<{
      data: string;
      last_seen_at: number;
    }>;
    return rows.map((row) => {
      const record = JSON.parse(row.data) as SessionRecord;
      record.lastSeenAt = Math.max(record.lastSeenAt, row.last_seen_at);
      return record;
    });
  }

  async deleteWhere(selector: SessionSelector): Promise<number> {
    this.#recent.clear();
    const where = whereClause(selector);
    if (!where) return 0;
    const sql = `DELETE FROM sessions WHERE ${where.sql}`;
    const result = this.#run(() => this.#db.prepare(sql).run(...where.values));
    return Number(result.changes);
  }

  async touch(entries: SessionTouch[]): Promise<void> {
    for (const { key } of entries) this.#recent.delete(key);
    if (!entries.length) return;
    this.#run(() => {
      this.#db.exec('BEGIN');
      try {
        for (const { key, lastSeenAt } of entries) this.#statements.touch.run(lastSeenAt, key);
        this.#db.exec('COMMIT');
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async count(): Promise<number> {
    const row = this.#run(() => this.#statements.count.get()) as { n: number };
    return Number(row.n);
  }

  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const result = this.#run(() => this.#statements.claim.run(id, now + ttlMs, now));
    return Number(result.changes) === 1;
  }

  async forgetClaim(id: string): Promise<void> {
    this.#run(() => this.#statements.unclaim.run(id));
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const now = this.#now();
    const token = randomUUID();
    const result = this.#run(() => this.#statements.lock.run(name, token, now + ttlMs, now));
    return Number(result.changes) === 1 ? token : undefined;
  }

  async releaseLock(name: string, token: string): Promise<void> {
    this.#run(() => this.#statements.unlock.run(name, token));
  }

  /** Removes expired rows; returns how many. */
  sweep(): number {
    this.#recent.clear();
    try {
      const now = this.#now();
      this.#db.prepare('DELETE FROM claims WHERE expires_at <= ?').run(now);
      return Number(this.#statements.sweep.run(now).changes);
    } catch {
      return 0;
    }
  }

  async ping(): Promise<void> {
    this.#run(() => this.#db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    if (this.#db.isOpen) this.#db.close();
  }

  #run<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw new StoreUnavailableError(`sqlite session store: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

function whereClause(selector: SessionSelector): { sql: string; values: string[] } | undefined {
  const clauses: string[] = [];
  const values: string[] = [];
  for (const column of ['app', 'sub', 'sid'] as const) {
    const value = selector[column];
    if (value === undefined) continue;
    clauses.push(`${column} = ?`);
    values.push(value);
  }
  return clauses.length ? { sql: clauses.join(' AND '), values } : undefined;
}
