/**
 * An application as the request path sees it: its configuration with regexes compiled, its
 * cookie, its callback URL, and the identity headers it receives.
 * @module
 */
import type { ApplicationConfig, Config } from '../config/schema.ts';
import { compileAccess, type AccessPolicy } from '../gate/access-policy.ts';
import { sessionCookieSpec, type SessionCookieSpec } from '../session/session-cookie.ts';

export type Application = {
  readonly name: string;
  readonly config: ApplicationConfig;
  /** The external origin, e.g. `https://app.example.com`. */
  readonly origin: URL;
  readonly cookie: SessionCookieSpec;
  /** `external_host` + `path_prefix` + `/callback`, built from configuration only. */
  readonly callbackUrl: string;
  readonly pathPrefix: string;
  readonly skip: readonly RegExp[];
  readonly access: AccessPolicy;
  /** For `forward_domain`: the lower-cased cookie domain without a leading dot. */
  readonly domain?: string;
};

export function buildApplication(config: ApplicationConfig, root: Config): Application {
  const origin = new URL(config.external_host);
  const domain = config.cookie_domain?.replace(/^\./, '').toLowerCase();
  return {
    name: config.name,
    config,
    origin,
    cookie: sessionCookieSpec({ ...config, cookie_domain: domain }),
    callbackUrl: `${origin.origin}${root.path_prefix}/callback`,
    pathPrefix: root.path_prefix,
    skip: config.skip_path_regex.map((pattern) => new RegExp(pattern)),
    access: compileAccess(config.access),
    ...(config.mode === 'forward_domain' && domain ? { domain } : {}),
  };
}

/** Chooses the application for a request's host: exact host first, then longest cookie domain. */
export class ApplicationRouter {
  readonly applications: readonly Application[];
  readonly #byHostname = new Map<string, Application[]>();
  readonly #domains: Application[];

  constructor(applications: Application[]) {
    this.applications = applications;
    for (const app of applications) {
      const list = this.#byHostname.get(app.origin.hostname) ?? [];
      list.push(app);
      this.#byHostname.set(app.origin.hostname, list);
    }
    this.#domains = applications
      .filter((app) => app.domain)
      .sort((a, b) => b.domain!.length - a.domain!.length);
  }

  /** `host` is a Host header value (`name[:port]`); `scheme` the original request's, if known. */
  route(host: string | undefined, scheme?: string): Application | undefined {
    const parsed = parseHost(host);
    if (!parsed) return undefined;
    const { hostname, port } = parsed;

    const exact = this.#byHostname.get(hostname)?.find((app) => samePort(app.origin, port, scheme));
    if (exact) return exact;
    return this.#domains.find(
      (app) =>
        (hostname === app.domain || hostname.endsWith(`.${app.domain}`)) &&
        sameScheme(app.origin, scheme),
    );
  }

  byName(name: string): Application | undefined {
    return this.applications.find((app) => app.name === name);
  }
}

export function parseHost(
  host: string | undefined,
): { hostname: string; port?: string } | undefined {
  // Only a name or address with an optional port, as the forward-auth adapters accept: the URL
  // parser would turn `app%2eexample.com` into an application's host and `.example.com` into
  // one under its cookie domain, though no front proxy routed them as such.
  if (!host || !HOST.test(host)) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return undefined;
  }
  const hostname = url.hostname.toLowerCase().replace(/\.$/, '');
  // `127.1` and `0x7f.1` are read as 127.0.0.1; a proxy routing on the name as written did not.
  const written = host.replace(/:\d+$/, '').toLowerCase().replace(/\.$/, '');
  if (!written.startsWith('[') && hostname !== written) return undefined;
  const explicitPort = /:(\d+)$/.exec(host)?.[1];
  return explicitPort ? { hostname, port: String(Number(explicitPort)) } : { hostname };
}

const HOST = /^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

function samePort(origin: URL, port: string | undefined, scheme: string | undefined): boolean {
  const expected = origin.port || defaultPort(origin.protocol);
  if (port === undefined)
    return !origin.port || (scheme !== undefined && expected === defaultPort(`${scheme}:`));
  return port === expected;
}

function sameScheme(origin: URL, scheme: string | undefined): boolean {
  return scheme === undefined || `${scheme}:` === origin.protocol;
}
