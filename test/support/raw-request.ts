/**
 * One HTTP request with exactly the headers given, duplicates included (an array value sends
 * the header once per element), for tests that forge what a proxy or client might send.
 *
 * @example
 * ```ts
 * const answer = await rawRequest(`${stack.gatehouseUrl}${PREFIX}/auth/traefik`, {
 *   headers: { 'x-forwarded-host': ['app.example.test', 'evil.example'] },
 * });
 * assert.equal(answer.status, 400);
 * ```
 * @module
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export type RawAnswer = { status: number; headers: IncomingHttpHeaders; body: string };

export function rawRequest(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string | string[]> } = {},
): Promise<RawAnswer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        method: options.method ?? 'GET',
        // `path` is sent byte for byte, so tests can send dot segments and other raw forms.
        path: options.path ?? `${target.pathname}${target.search}`,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    if (!options.headers || !Object.keys(options.headers).some((n) => n.toLowerCase() === 'host'))
      req.setHeader('host', target.host);
    for (const [name, value] of Object.entries(options.headers ?? {})) req.setHeader(name, value);
    req.on('error', reject);
    req.end();
  });
}
