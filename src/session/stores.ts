import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
import { MemorySessionStore } from './memory-store.ts';
import type { SessionStore } from './record.ts';
import { SqliteSessionStore } from './sqlite-store.ts';

export async function openSessionStore(session: Config['session']): Promise<SessionStore> {
  switch (session.store) {
    case 'memory':
      return new MemorySessionStore();
    case 'sqlite':
      return new SqliteSessionStore(session.sqlite_path);
    case 'redis':
      throw new GatehouseError(
        'GATEHOUSE_ERR_CONFIG',
        'session.store: redis is not available in this version',
      );
  }
}
