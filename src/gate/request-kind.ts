import type { IncomingHttpHeaders } from 'node:http';

/**
 * A navigation is what a person's browser loads as a page: only those may be sent to sign in.
 * Everything else (XHR, fetch, JSON clients, curl's `*\/*`, websockets) gets a 401 it can act on.
 */
export function isNavigation(headers: IncomingHttpHeaders): boolean {
  if (isWebsocketUpgrade(headers)) return false;
  const mode = headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  if (headers['x-requested-with']) return false;
  const accept = headers.accept;
  return typeof accept === 'string' && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}

export function isWebsocketUpgrade(headers: IncomingHttpHeaders): boolean {
  return typeof headers.upgrade === 'string' && headers.upgrade.toLowerCase() === 'websocket';
}

export function isCorsPreflight(method: string, headers: IncomingHttpHeaders): boolean {
  return method === 'OPTIONS' && !!headers.origin && !!headers['access-control-request-method'];
}

/** GET and HEAD keep their meaning across a redirect; anything else must get a 303. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}
