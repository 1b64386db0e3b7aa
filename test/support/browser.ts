/**
 * A browser stand-in for tests: a cookie jar, top-level navigations with redirects, and HTML
 * form submission. Built on node:http rather than fetch so a test can send any Host header
 * and reach made-up hostnames (every name connects to 127.0.0.1 unless `resolve` says else).
 *
 * @example
 * ```ts
 * const browser = new Browser();
 * const page = await browser.login('http://app.localhost:9000/', 'alice');
 * assert.equal(page.status, 200);
 * ```
 *
 * @module
 */
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { findDemoUser } from '../../src/demo/users.ts';
import { CookieJar } from './cookie-jar.ts';
import type { Cookie, CookieAttributes } from './cookie-jar.ts';
import { formRequest, parseForm } from './html-form.ts';

export { parseForm };

export interface BrowserOptions {
  /** The address to connect to for a hostname; default 127.0.0.1 for every name. */
  resolve?: (hostname: string) => string;
  /** Sent with every request unless a request overrides them; default: a navigation. */
  headers?: Record<string, string>;
  /** For https: trusted CA certificates, or `false` to accept any certificate. */
  ca?: string | Buffer | Array<string | Buffer>;
  rejectUnauthorized?: boolean;
  now?: () => number;
}

export interface RequestOptions {
  method?: string;
  /** Overrides the defaults; `host` and `cookie` replace what the browser would send. */
  headers?: Record<string, string>;
  body?: string | Buffer | URLSearchParams;
}

export interface NavigateOptions extends RequestOptions {
  maxRedirects?: number;
  /** Submit pages that submit themselves with script (as a browser with JavaScript would). */
  submitForms?: boolean;
}

export interface BrowserResponse {
  status: number;
  /** Lowercase names; `set-cookie` is an array. */
  headers: IncomingHttpHeaders;
  body: string;
  url: string;
}

export interface Hop {
  method: string;
  url: string;
  status: number;
  location: string | undefined;
}

export interface Navigation extends BrowserResponse {
  hops: Hop[];
}

export const NAVIGATION_HEADERS: Readonly<Record<string, string>> = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) GatehouseTestBrowser/1.0',
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const AUTO_SUBMIT = /\.submit\(\)/;
const MAX_AUTO_SUBMITS = 10;

export class Browser {
  readonly jar: CookieJar;
  readonly #resolve: (hostname: string) => string;
  readonly #headers: Record<string, string>;
  readonly #tls: { ca?: BrowserOptions['ca']; rejectUnauthorized: boolean };

  constructor(options: BrowserOptions = {}) {
    this.jar = new CookieJar(options.now ? { now: options.now } : {});
    this.#resolve = options.resolve ?? (() => '127.0.0.1');
    this.#headers = { ...(options.headers ?? NAVIGATION_HEADERS) };
    this.#tls = { ca: options.ca, rejectUnauthorized: options.rejectUnauthorized ?? true };
  }

  /** One request, no redirects followed; Set-Cookie headers are stored. */
  async request(url: string | URL, options: RequestOptions = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    const method = (options.method ?? 'GET').toUpperCase();
    const headers: OutgoingHttpHeaders = mergeHeaders(this.#headers, { host: target.host });
    const cookie = this.jar.header(target);
    if (cookie) headers['cookie'] = cookie;

    let body: Buffer | undefined;
    if (options.body instanceof URLSearchParams) {
      body = Buffer.from(options.body.toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (options.body !== undefined) {
      body = Buffer.from(options.body);
    }
    if (body) headers['content-length'] = body.length;
    const sent = mergeHeaders(headers, options.headers ?? {});

    const response = await this.#send(target, method, sent, body);
    for (const line of response.headers['set-cookie'] ?? []) this.jar.store(line, target);
    return response;
  }

  /** Follows redirects as a browser does: 303, and 301/302 after a POST, become GETs. */
  async navigate(url: string | URL, options: NavigateOptions = {}): Promise<Navigation> {
    const hops: Hop[] = [];
    let current = new URL(url);
    let request: RequestOptions = options;
    let autoSubmits = 0;

    for (;;) {
      const method = (request.method ?? 'GET').toUpperCase();
      const response = await this.request(current, request);
      const location = header(response.headers, 'location');
      hops.push({ method, url: current.href, status: response.status, location });

      if (REDIRECTS.has(response.status) && location !== undefined) {
        if (hops.length > (options.maxRedirects ?? 20)) {
          throw new Error(`too many redirects: ${hops.map((hop) => hop.url).join(' -> ')}`);
        }
        current = new URL(location, current);
        const keepsMethod = response.status === 307 || response.status === 308;
        const becomesGet = response.status === 303 || (!keepsMethod && method === 'POST');
        request = becomesGet ? { headers: withoutBodyHeaders(request.headers) } : request;
        continue;
      }

      if (
        options.submitForms &&
        autoSubmits < MAX_AUTO_SUBMITS &&
        AUTO_SUBMIT.test(response.body)
      ) {
        const form = parseForm(response.body, response.url);
        if (form) {
          autoSubmits += 1;
          current = form.action;
          request = formRequest(form, {});
          continue;
        }
      }
      return { ...response, hops };
    }
  }

  /**
   * Opens `startUrl`, and when it lands on the provider's login form signs in there (the
   * password defaults to the demo user's), then follows the redirects back.
   */
  async login(
    startUrl: string | URL,
    username: string,
    password: string | undefined = findDemoUser(username)?.password,
    options: NavigateOptions = {},
  ): Promise<Navigation> {
    const first = await this.navigate(startUrl, options);
    const form = parseForm(first.body, first.url);
    if (!form || !form.fields.has('username') || !form.fields.has('password')) return first;

    const values = { username, password: password ?? '' };
    const second = await this.navigate(form.action, { ...options, ...formRequest(form, values) });
    return { ...second, hops: [...first.hops, ...second.hops] };
  }

  /** Submits the first form in `html` (or the one with `formId`), with fields overridden. */
  async submitForm(
    html: string,
    baseUrl: string | URL,
    overrides: Record<string, string> = {},
    options: NavigateOptions & { formId?: string } = {},
  ): Promise<Navigation> {
    const form = parseForm(html, baseUrl, options.formId);
    if (!form) throw new Error(`no form${options.formId ? ` #${options.formId}` : ''} in page`);
    return this.navigate(form.action, { ...options, ...formRequest(form, overrides) });
  }

  cookies(url?: string | URL): Cookie[] {
    return url === undefined ? this.jar.all() : this.jar.matching(url);
  }

  getCookie(name: string, url: string | URL): Cookie | undefined {
    return this.jar.matching(url).find((cookie) => cookie.name === name);
  }

  setCookie(name: string, value: string, url: string | URL, attributes?: CookieAttributes): void {
    this.jar.set(name, value, url, attributes);
  }

  deleteCookie(name: string, domain?: string): void {
    this.jar.delete(name, domain);
  }

  clearCookies(): void {
    this.jar.clear();
  }

  cookieHeader(url: string | URL): string {
    return this.jar.header(url);
  }

  #send(
    target: URL,
    method: string,
    headers: OutgoingHttpHeaders,
    body: Buffer | undefined,
  ): Promise<BrowserResponse> {
    const secure = target.protocol === 'https:';
    const hostname = target.hostname.replace(/^\[|\]$/g, '');
    const send = secure ? httpsRequest : httpRequest;

    return new Promise((resolve, reject) => {
      const req = send(
        {
          host: this.#resolve(hostname),
          port: target.port || (secure ? 443 : 80),
          path: `${target.pathname}${target.search}`,
          method,
          headers,
          agent: false,
          ...(secure ? { servername: hostname, ...this.#tls } : {}),
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
              url: target.href,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Later sources win; names compare without letter case but are sent as written. */
function mergeHeaders(...sources: OutgoingHttpHeaders[]): OutgoingHttpHeaders {
  const merged = new Map<string, [string, OutgoingHttpHeaders[string]]>();
  for (const source of sources) {
    for (const [name, value] of Object.entries(source))
      merged.set(name.toLowerCase(), [name, value]);
  }
  return Object.fromEntries(merged.values());
}

function withoutBodyHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).filter(
      ([name]) => !['content-type', 'content-length'].includes(name.toLowerCase()),
    ),
  );
}
