/**
 * A cookie store that follows RFC 6265 (with the prefix and secure-context rules of its
 * successor draft, as browsers apply them), so tests see what a browser would send.
 *
 * @module
 */

export type SameSite = 'strict' | 'lax' | 'none';

export interface Cookie {
  name: string;
  value: string;
  /** Lowercase host, without a leading dot. */
  domain: string;
  /** True when the cookie had no Domain attribute: it goes back to that exact host only. */
  hostOnly: boolean;
  path: string;
  /** Epoch milliseconds; Infinity for a session cookie. */
  expiresAt: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite: SameSite | undefined;
  creationTime: number;
}

export interface CookieAttributes {
  domain?: string;
  path?: string;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: SameSite;
  maxAgeSeconds?: number;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Browsers treat these as secure contexts even over http, so Secure cookies work there:
 * this is what lets tests run against http://127.0.0.1 and http://*.localhost.
 */
export function isSecureContext(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  const host = url.hostname.toLowerCase();
  return (
    host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '[::1]'
  );
}

export function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !isIpAddress(host) && host.endsWith(`.${domain}`);
}

export function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The directory of the request path, the default for a cookie without a Path attribute. */
export function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}

function isIpAddress(host: string): boolean {
  return IPV4.test(host) || host.startsWith('[');
}

export class CookieJar {
  readonly #cookies: Cookie[] = [];
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Applies one Set-Cookie header value received from `requestUrl`; false when rejected. */
  store(setCookie: string, requestUrl: string | URL): boolean {
    const url = new URL(requestUrl);
    const now = this.#now();
    const [pair = '', ...attributes] = setCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq < 0) return false;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!name) return false;

    let expiresAt = Infinity;
    let maxAgeSeen = false;
    let domainAttribute: string | undefined;
    let path: string | undefined;
    let secure = false;
    let httpOnly = false;
    let sameSite: SameSite | undefined;

    for (const attribute of attributes) {
      const sep = attribute.indexOf('=');
      const key = (sep < 0 ? attribute : attribute.slice(0, sep)).trim().toLowerCase();
      const arg = sep < 0 ? '' : attribute.slice(sep + 1).trim();
      switch (key) {
        case 'expires': {
          const time = Date.parse(arg);
          if (!maxAgeSeen && !Number.isNaN(time)) expiresAt = time;
          break;
        }
        case 'max-age':
          if (/^-?\d+$/.test(arg)) {
            const seconds = Number(arg);
            maxAgeSeen = true;
            expiresAt = seconds <= 0 ? -Infinity : now + seconds * 1000;
          }
          break;
        case 'domain':
          // A leading dot is ignored (RFC 6265 5.2.3); an empty value is as if absent.
          if (arg) domainAttribute = arg.replace(/^\./, '').toLowerCase();
          break;
        case 'path':
          path = arg.startsWith('/') ? arg : undefined;
          break;
        case 'secure':
          secure = true;
          break;
        case 'httponly':
          httpOnly = true;
          break;
        case 'samesite': {
          const lowered = arg.toLowerCase();
          if (lowered === 'strict' || lowered === 'lax' || lowered === 'none') sameSite = lowered;
          break;
        }
      }
    }

    const host = url.hostname.toLowerCase();
    if (domainAttribute !== undefined && !domainMatches(host, domainAttribute)) return false;
    if (secure && !isSecureContext(url)) return false;

    const lowered = name.toLowerCase();
    if (lowered.startsWith('__secure-') && !secure) return false;
    // __Host- cookies are pinned to one origin: no Domain, the whole site's path, Secure.
    if (
      lowered.startsWith('__host-') &&
      (!secure || domainAttribute !== undefined || path !== '/')
    ) {
      return false;
    }

    const cookie: Cookie = {
      name,
      value,
      domain: domainAttribute ?? host,
      hostOnly: domainAttribute === undefined,
      path: path ?? defaultPath(url.pathname),
      expiresAt,
      secure,
      httpOnly,
      sameSite,
      creationTime: now,
    };

    this.#put(cookie);
    return true;
  }

  /** Adds a cookie directly, bypassing the rules `store` applies (for forged-cookie tests). */
  set(name: string, value: string, requestUrl: string | URL, attributes: CookieAttributes = {}) {
    const url = new URL(requestUrl);
    const now = this.#now();
    this.#put({
      name,
      value,
      domain: (attributes.domain ?? url.hostname).replace(/^\./, '').toLowerCase(),
      hostOnly: attributes.domain === undefined,
      path: attributes.path ?? '/',
      expiresAt:
        attributes.maxAgeSeconds === undefined ? Infinity : now + attributes.maxAgeSeconds * 1000,
      secure: attributes.secure ?? false,
      httpOnly: attributes.httpOnly ?? false,
      sameSite: attributes.sameSite,
      creationTime: now,
    });
  }

  /** The cookies a request to `url` carries, in the order a browser sends them. */
  matching(requestUrl: string | URL): Cookie[] {
    const url = new URL(requestUrl);
    const host = url.hostname.toLowerCase();
    const secureContext = isSecureContext(url);

    return this.all()
      .filter((cookie) =>
        cookie.hostOnly ? host === cookie.domain : domainMatches(host, cookie.domain),
      )
      .filter((cookie) => pathMatches(url.pathname || '/', cookie.path))
      .filter((cookie) => !cookie.secure || secureContext)
      .sort((a, b) => b.path.length - a.path.length || a.creationTime - b.creationTime);
  }

  /** The Cookie request header for `url`, or '' when no cookie applies. */
  header(requestUrl: string | URL): string {
    return this.matching(requestUrl)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  /** Every cookie that has not expired. */
  all(): Cookie[] {
    const now = this.#now();
    for (let i = this.#cookies.length - 1; i >= 0; i -= 1) {
      if ((this.#cookies[i]?.expiresAt ?? 0) <= now) this.#cookies.splice(i, 1);
    }
    return [...this.#cookies];
  }

  /** Removes every cookie of that name (optionally only for one domain). */
  delete(name: string, domain?: string): void {
    for (let i = this.#cookies.length - 1; i >= 0; i -= 1) {
      const cookie = this.#cookies[i];
      if (cookie?.name === name && (domain === undefined || cookie.domain === domain)) {
        this.#cookies.splice(i, 1);
      }
    }
  }

  clear(): void {
    this.#cookies.length = 0;
  }

  #put(cookie: Cookie): void {
    const index = this.#cookies.findIndex(
      (old) => old.name === cookie.name && old.domain === cookie.domain && old.path === cookie.path,
    );
    const old = index >= 0 ? this.#cookies[index] : undefined;
    if (index >= 0) this.#cookies.splice(index, 1);

    // An expiry in the past is how a server deletes a cookie (RFC 6265 5.3 step 11).
    if (cookie.expiresAt <= this.#now()) return;
    this.#cookies.push({ ...cookie, creationTime: old?.creationTime ?? cookie.creationTime });
  }
}
