import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request a person made, as Gatehouse understands it after a reverse-proxy adapter (or proxy
 * mode) has read it: the original method and URL, and the original request's headers.
 */
export type OriginalRequest = {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
};
