/**
 * A domain-mode deployment as the README shows it: a real Caddy running
 * examples/caddy/Caddyfile.domain in front of Gatehouse (forward_domain, cookie domain
 * `example.test`, external host on the auth host) and the recording whoami application, with
 * the in-process provider behind Gatehouse. Caddy also serves a look-alike host,
 * `badexample.test`, through the same snippet, so tests can show it is not covered.
 *
 * @example
 * ```ts
 * const deployment = await startDomainBehindCaddy();
 * after(() => deployment.close());
 * await deployment.stack.browser().login(deployment.url('app', '/'), 'alice');
 * ```
 * @module
 */
import { startCaddy } from './caddy.ts';
import { readSnippet } from './e2e.ts';
import { freePort } from './ports.ts';
import { startStack, type Stack } from './stack.ts';

export const COOKIE_DOMAIN = 'example.test';

/** The hostnames Caddy serves: three on the cookie domain and one that only looks like it. */
export const HOSTS = {
  auth: 'auth.example.test',
  app: 'app.example.test',
  app2: 'app2.example.test',
  lookalike: 'badexample.test',
} as const;

export type SiteName = keyof typeof HOSTS;

export interface DomainDeployment {
  stack: Stack;
  /** Caddy's port, shared by every site. */
  port: number;
  /** `http://<host>:<port>` for one of {@link HOSTS}. */
  origin(site: SiteName): string;
  url(site: SiteName, path: string): string;
  /** Caddy's logs, for assertion messages. */
  logs(): string;
  close(): Promise<void>;
}

/**
 * Starts the stack with its external host on the auth host at Caddy's port, then Caddy with the
 * README's domain-mode snippet, its example addresses replaced by this run's ports, plus a site
 * for the look-alike host that imports the same snippet.
 */
export async function startDomainBehindCaddy(
  options: { app?: Record<string, unknown> } = {},
): Promise<DomainDeployment> {
  const port = await freePort();
  const stack = await startStack({
    mode: 'forward_domain',
    host: HOSTS.auth,
    publicPort: port,
    app: { cookie_domain: COOKIE_DOMAIN, ...options.app },
  });
  const whoami = new URL(stack.whoami.url).host;

  let caddy: { logs(): string; close(): Promise<void> };
  try {
    const snippet = await readSnippet('caddy/Caddyfile.domain', {
      [`${HOSTS.auth}:8000`]: `${HOSTS.auth}:${port}`,
      [`${HOSTS.app}:8000`]: `${HOSTS.app}:${port}`,
      [`${HOSTS.app2}:8000`]: `${HOSTS.app2}:${port}`,
      '127.0.0.1:9000': new URL(stack.gatehouseUrl).host,
      '127.0.0.1:8080': whoami,
      '127.0.0.1:8081': whoami,
    });
    const lookalike = `
http://${HOSTS.lookalike}:${port} {
	route {
		import gatehouse ${HOSTS.lookalike}:${port}
		reverse_proxy ${whoami}
	}
}
`;
    caddy = await startCaddy({ caddyfile: snippet + lookalike });
  } catch (error) {
    await stack.close();
    throw error;
  }

  const origin = (site: SiteName): string => `http://${HOSTS[site]}:${port}`;
  return {
    stack,
    port,
    origin,
    url: (site, path) => `${origin(site)}${path}`,
    logs: () => caddy.logs(),
    async close() {
      await caddy.close();
      await stack.close();
    },
  };
}
