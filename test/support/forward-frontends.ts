/**
 * Stand-ins for the reverse proxies that are not packaged for this platform (Traefik and Envoy).
 * Each replays its proxy's documented forward-auth exchange, so the README snippets for them are
 * checked against the same behaviour:
 *
 * - Traefik `forwardAuth`: a GET to the auth address carrying the original request's headers plus
 *   X-Forwarded-Method, -Proto, -Host, -Uri and -For (set by Traefik, not the client, without
 *   `trustForwardHeader`); a 2xx copies `authResponseHeaders` onto the request, replacing
 *   same-named ones; any other answer goes to the client whole.
 * - Envoy `ext_authz` over HTTP: the original method, `path_prefix` + original path and query,
 *   the original Host, the `allowed_headers` and no body; a 2xx copies `allowed_upstream_headers`;
 *   a denial goes to the client with its status, headers and body.
 *
 * Requests under the path prefix go straight to Gatehouse, as the snippets' router rules do.
 * @module
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { once } from 'node:events';
import { pipeline } from 'node:stream';
import type { AddressInfo } from 'node:net';

export type FrontendFlavour = 'traefik' | 'envoy';

export type FrontendOptions = {
  flavour: FrontendFlavour;
  /** Gatehouse's base URL, e.g. http://127.0.0.1:9000 */
  gatehouse: string;
  /** The application's URL. */
  upstream: string;
  prefix: string;
  /** Headers copied from a 2xx auth answer onto the upstream request. */
  copyHeaders: string[];
  port?: number;
};

/** Envoy's snippet lists these in `allowed_headers`; Host, method and path always go. */
export const ENVOY_ALLOWED_HEADERS = [
  'cookie',
  'accept',
  'sec-fetch-mode',
  'x-requested-with',
  'upgrade',
  'origin',
  'access-control-request-method',
  'authorization',
  'x-forwarded-proto',
];

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade'];

export type Frontend = {
  url: string;
  port: number;
  authRequests: IncomingHttpHeaders[];
  close(): Promise<void>;
};

export async function startFrontend(options: FrontendOptions): Promise<Frontend> {
  const authRequests: IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    handle(req, res, options, authRequests).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    authRequests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: FrontendOptions,
  log: IncomingHttpHeaders[],
) {
  const path = req.url ?? '/';
  if (path === options.prefix || path.startsWith(`${options.prefix}/`)) {
    return relay(req, res, options.gatehouse, forwardedHeaders(req));
  }

  const check = authRequest(req, options);
  log.push(check.headers);
  const answer = await exchange(check.url, check.method, check.headers);
  if (answer.status < 200 || answer.status >= 300) {
    req.resume();
    res.writeHead(answer.status, answer.headers);
    return res.end(answer.body);
  }

  const headers = forwardedHeaders(req);
  for (const name of options.copyHeaders) {
    const value = answer.headers[name.toLowerCase()];
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  return relay(req, res, options.upstream, headers);
}

function authRequest(req: IncomingMessage, options: FrontendOptions) {
  const original = req.headers;
  if (options.flavour === 'traefik') {
    const headers: IncomingHttpHeaders = { ...original };
    for (const name of [...HOP_BY_HOP, 'content-length']) delete headers[name];
    headers['x-forwarded-method'] = req.method;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-host'] = original.host;
    headers['x-forwarded-uri'] = req.url;
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    return { method: 'GET', url: `${options.gatehouse}${options.prefix}/auth/traefik`, headers };
  }
  const headers: IncomingHttpHeaders = { host: original.host, 'content-length': '0' };
  for (const name of ENVOY_ALLOWED_HEADERS)
    if (original[name] !== undefined) headers[name] = original[name];
  headers['x-forwarded-proto'] ??= 'http';
  return {
    method: req.method ?? 'GET',
    url: `${options.gatehouse}${options.prefix}/auth/envoy${req.url}`,
    headers,
  };
}

function exchange(url: string, method: string, headers: IncomingHttpHeaders) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>(
    (resolve, reject) => {
      const request = http.request(url, { method, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 502,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
      });
      request.on('error', reject);
      request.end();
    },
  );
}

function forwardedHeaders(req: IncomingMessage): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-host'] = req.headers.host;
  headers['x-forwarded-for'] = req.socket.remoteAddress;
  return headers;
}

function relay(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  headers: IncomingHttpHeaders,
) {
  const upstream = http.request(
    `${target}${req.url}`,
    { method: req.method, headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      pipeline(answer, res, () => {});
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  pipeline(req, upstream, () => {});
}
