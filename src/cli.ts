/**
 * The `gatehouse` command, and the composition root: the only place that reads the environment,
 * owns the logger and wires configuration, stores and servers together.
 * @module
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { ConfigError, formatProblem, loadConfigFile, type LoadedConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { createLogger } from './log.ts';
import { Gatehouse } from './server/gatehouse.ts';
import type { SessionStore } from './session/record.ts';
import { openSessionStore } from './session/stores.ts';

const USAGE = `usage: gatehouse serve --config FILE
       gatehouse check --config FILE`;

export type Running = {
  gatehouse: Gatehouse;
  server: Server;
  url: string;
  /** Stops listening; closes the store too unless it was handed in or `keepStore` is set. */
  close(options?: { keepStore?: boolean }): Promise<void>;
};

/** Starts Gatehouse for a validated configuration; used by `serve`, the demo and the tests. */
export async function startGatehouse(
  config: Config,
  options: { log?: ReturnType<typeof createLogger>; store?: SessionStore } = {},
): Promise<Running> {
  const log = options.log ?? createLogger(config.log_level);
  const ownsStore = !options.store;
  const store =
    options.store ?? (await openSessionStore(config.session, { onRedisError: throttled(log) }));
  const gatehouse = new Gatehouse({ config, store, log });
  const server = gatehouse.createServer();
  const { host, port } = parseListen(config.listen);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  log.info({
    event: 'listening',
    url,
    store: store.kind,
    applications: config.applications.map((app) => app.name),
  });

  return {
    gatehouse,
    server,
    url,
    async close({ keepStore = false } = {}) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gatehouse.close();
      if (ownsStore && !keepStore) await store.close();
    },
  };
}

/** Connection errors of a store that is down arrive every second; log one per half minute. */
function throttled(log: ReturnType<typeof createLogger>): (error: Error) => void {
  let last = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < 30_000) return;
    last = now;
    log.error({ event: 'session_store_connection_failed', store: 'redis', err: error });
  };
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen) ?? /^()()(\d+)$/.exec(listen);
  if (!match) throw new Error(`listen: expected HOST:PORT, got ${listen}`);
  return { host: match[1] || match[2] || '0.0.0.0', port: Number(match[3]) };
}

function load(file: string): LoadedConfig | undefined {
  try {
    return loadConfigFile(file, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`${formatProblem(problem)}\n`);
    return undefined;
  }
}

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  const command = positionals[0];
  if (values.help || !command || !values.config || !['serve', 'check'].includes(command)) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }

  const loaded = load(values.config);
  if (!loaded) return 2;
  for (const warning of loaded.warnings)
    process.stderr.write(
      `${formatProblem({ ...warning, message: `warning: ${warning.message}` })}\n`,
    );
  if (command === 'check') {
    process.stdout.write(
      `${values.config}: ok (${loaded.config.applications.length} applications)\n`,
    );
    return 0;
  }

  const running = await startGatehouse(loaded.config);
  const stop = async () => {
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise(() => {});
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`gatehouse: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
