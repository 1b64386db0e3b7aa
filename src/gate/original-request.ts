import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request a person made, as Gatehouse understands it after a reverse-proxy adapter (or proxy
 * mode) has read it: the original method and URL, and the original request's headers.
 */
export type OriginalRequest = {
  method: string;
  url: URL;
  /**
   * The path and query exactly as they arrived, before any URL parser resolved dot segments or
   * backslashes: what the application itself will be asked for, so what skip and access rules
   * judge.
   */
  target: string;
  headers: IncomingHttpHeaders;
};
