/**
 * Deployments where one Gatehouse answers for more than one application, as it does in most
 * real setups: the README's forward-auth application plus "neighbours" that are public
 * (`skip_path_regex: ['^/']`), for tests that ask whether a client behind a reverse proxy can
 * get one application's request judged as another's.
 *
 * @example
 * ```ts
 * const deployment = await startBehindProxy('nginx');
 * await addNeighbours(deployment.stack, [{ name: 'public', external_host: 'http://public.example.test:1234' }]);
 * ```
 * @module
 */
import { configSchema } from '../../src/config/schema.ts';
import { startWhoami, type RunningWhoami } from '../../src/demo/whoami.ts';
import { readSnippet } from './e2e.ts';
import { startNginx } from './nginx.ts';
import { freePort } from './ports.ts';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from './provider.ts';
import { SECRET, startStack, type Stack } from './stack.ts';

export interface Neighbour {
  name: string;
  external_host: string;
  /** Defaults to `['^/']`: every path is public. */
  skip_path_regex?: string[];
}

/**
 * Adds applications to a running stack's Gatehouse (same provider, same client) and restarts
 * it on the same port, so the reverse proxy in front keeps talking to it.
 */
export async function addNeighbours(stack: Stack, neighbours: Neighbour[]): Promise<void> {
  const parsed = configSchema.parse({
    secret: SECRET,
    applications: neighbours.map((neighbour) => ({
      mode: 'forward_single',
      skip_path_regex: ['^/'],
      ...neighbour,
      oidc: {
        issuer: stack.provider.issuer,
        client_id: TEST_CLIENT_ID,
        client_secret: TEST_CLIENT_SECRET,
      },
    })),
  });
  stack.config.applications.push(...parsed.applications);
  await stack.restart();
}

export interface HardenedNginx {
  stack: Stack;
  /** The backend of the public site; the protected application's is `stack.whoami`. */
  publicWhoami: RunningWhoami;
  port: number;
  logs(): string;
  close(): Promise<void>;
}

/**
 * nginx as a careful operator would run it for two sites: a `default_server` that drops every
 * unknown Host (444), and the README snippet copied once per site, `app.example.test` (the
 * protected application) and `public.example.test` (a public neighbour with its own backend).
 */
export async function startHardenedNginx(): Promise<HardenedNginx> {
  const port = await freePort();
  const stack = await startStack({ mode: 'forward_single', publicPort: port });
  let publicWhoami: RunningWhoami | undefined;
  try {
    publicWhoami = await startWhoami();
    await addNeighbours(stack, [
      { name: 'public', external_host: `http://public.example.test:${port}` },
    ]);
    const gatehouse = new URL(stack.gatehouseUrl).host;
    const app = await readSnippet('nginx/app.conf', {
      '127.0.0.1:8000': `127.0.0.1:${port}`,
      '127.0.0.1:9000': gatehouse,
      '127.0.0.1:8080': new URL(stack.whoami.url).host,
    });
    const site = await readSnippet('nginx/app.conf', {
      '127.0.0.1:8000': `127.0.0.1:${port}`,
      '127.0.0.1:9000': gatehouse,
      '127.0.0.1:8080': new URL(publicWhoami.url).host,
      'server_name app.example.test;': 'server_name public.example.test;',
    });
    const fallback = `server {\n    listen 127.0.0.1:${port} default_server;\n    return 444;\n}\n`;
    const nginx = await startNginx({ config: `${fallback}\n${app}\n${site}` });
    const whoami = publicWhoami;
    return {
      stack,
      publicWhoami: whoami,
      port,
      logs: () => nginx.logs(),
      async close() {
        await nginx.close();
        await whoami.close();
        await stack.close();
      },
    };
  } catch (error) {
    await publicWhoami?.close();
    await stack.close();
    throw error;
  }
}
