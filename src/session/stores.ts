import type { Config } from '../config/schema.ts';
import { MemorySessionStore } from './memory-store.ts';
import { RedisSessionStore } from './redis-store.ts';
import type { SessionStore } from './record.ts';
import { SqliteSessionStore } from './sqlite-store.ts';

export async function openSessionStore(
  session: Config['session'],
  options: { onRedisError?: (error: Error) => void } = {},
): Promise<SessionStore> {
  switch (session.store) {
    case 'memory':
      return new MemorySessionStore();
    case 'sqlite':
      return new SqliteSessionStore(session.sqlite_path);
    case 'redis':
      // Connects in the background: a store that is down at boot gives 503s, not a failed start.
      return new RedisSessionStore({
        url: session.redis_url,
        timeoutMs: session.redis_timeout,
        keyPrefix: session.redis_key_prefix,
        ...(options.onRedisError ? { onError: options.onRedisError } : {}),
      });
  }
}
