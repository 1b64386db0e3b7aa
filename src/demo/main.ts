/**
 * `npm start`: the demo. An embedded OpenID Provider with two users, the whoami application, and
 * Gatehouse in proxy mode in front of it, all on loopback. State lives in `.gatehouse-demo/`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startGatehouse } from '../cli.ts';
import { loadConfigFile } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { startProvider } from './provider.ts';
import { DEMO_USERS } from './users.ts';
import { startWhoami } from './whoami.ts';

const dir = resolve('.gatehouse-demo');
const gatehousePort = Number(process.env.GATEHOUSE_DEMO_PORT ?? 9000);
const providerPort = Number(process.env.GATEHOUSE_DEMO_PROVIDER_PORT ?? gatehousePort + 1);
const origin = `http://localhost:${gatehousePort}`;
const clientSecret = 'demo-client-secret-not-for-production';

// A port already taken is the one failure a newcomer is likely to meet: say which and how to move.
process.on('uncaughtException', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EADDRINUSE') throw error;
  process.stderr.write(
    `Port ${(error as { port?: number }).port ?? ''} is in use. Start the demo on other ` +
      'ports with GATEHOUSE_DEMO_PORT=9100 npm start (the provider takes the next port).\n',
  );
  process.exit(1);
});

mkdirSync(dir, { recursive: true });
const secretFile = join(dir, 'secret');
if (!existsSync(secretFile))
  writeFileSync(secretFile, randomBytes(32).toString('base64url'), { mode: 0o600 });

const provider = await startProvider({
  port: providerPort,
  keysFile: join(dir, 'provider-keys.json'),
  clients: [
    {
      client_id: 'whoami',
      client_secret: clientSecret,
      redirect_uris: [`${origin}/outpost.goauthentik.io/callback`],
      post_logout_redirect_uris: [`${origin}/`],
    },
  ],
});
const whoami = await startWhoami();

const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(
  configFile,
  `# Written by npm start; Gatehouse reads it like any other configuration.
listen: 127.0.0.1:${gatehousePort}
secret: ${readFileSync(secretFile, 'utf8').trim()}
log_level: ${process.env.GATEHOUSE_DEMO_LOG ?? 'info'}
session:
  store: sqlite
  sqlite_path: ./sessions.sqlite
applications:
  - name: whoami
    mode: proxy
    external_host: ${origin}
    internal_host: ${whoami.url}
    oidc:
      issuer: ${provider.issuer}
      client_id: whoami
      client_secret: ${clientSecret}
      scopes: [openid, profile, email]
`,
  { mode: 0o600 },
);
chmodSync(configFile, 0o600);

const { config } = loadConfigFile(configFile, process.env);
const gatehouse = await startGatehouse(config, { log: createLogger(config.log_level) });

const users = DEMO_USERS.map(
  (user) =>
    `    ${user.username.padEnd(6)} password: ${user.password}  groups: ${user.groups.join(', ')}`,
);
process.stdout.write(`
Gatehouse demo is running.

  Open ${origin}/ and sign in as one of:
${users.join('\n')}

  Identity provider: ${provider.issuer}
  Configuration:     ${configFile}
  Sign out:          ${origin}/outpost.goauthentik.io/sign_out

Press Ctrl+C to stop.
`);

const stop = async () => {
  await gatehouse.close();
  await whoami.close();
  await provider.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
