/**
 * Small writers for the responses Gatehouse sends itself: redirects, JSON and HTML pages.
 * @module
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export type Reply = {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string;
};

export function send(res: ServerResponse, reply: Reply, head = false): void {
  const body = reply.body ?? '';
  const headers: Record<string, string | string[] | number> = {
    'Cache-Control': 'no-store',
    ...reply.headers,
  };
  if (!res.headersSent) {
    headers['Content-Length'] = Buffer.byteLength(body);
    res.writeHead(reply.status, headers);
  }
  res.end(head ? undefined : body);
}

/** A reply written straight to a socket that never became an HTTP exchange (an upgrade). */
export function writeRaw(socket: Duplex, reply: Reply): void {
  const body = reply.body ?? '';
  const headers = Object.entries(reply.headers ?? {})
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function redirect(status: 302 | 303, location: string, setCookies: string[] = []): Reply {
  return {
    status,
    headers: { Location: location, ...(setCookies.length ? { 'Set-Cookie': setCookies } : {}) },
  };
}

export function json(
  status: number,
  value: unknown,
  headers: Record<string, string | string[]> = {},
): Reply {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  };
}

export function page(
  status: number,
  title: string,
  paragraphs: string[],
  headers: Record<string, string | string[]> = {},
  link?: { href: string; text: string },
): Reply {
  const items = paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`).join('\n');
  const action = link
    ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>`
    : '';
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#222}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${items}
${action}
</body></html>
`;
  return {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', ...headers },
    body,
  };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
