/**
 * The forwarding headers of a request from a trusted peer: `X-Forwarded-Proto`, `-Host`, and the
 * `proto=` and `host=` of RFC 7239 `Forwarded`. A header that arrived twice, holds a list, or
 * disagrees with its counterpart makes the original URL unknowable, so it is an error (400), not
 * a guess: picking one would let a client that appends its own copy choose what is judged.
 * @module
 */
import type { IncomingMessage } from 'node:http';

export type HeaderValue = { ok: true; value: string | undefined } | { ok: false; reason: string };

export type ForwardedOrigin =
  { ok: true; proto: string | undefined; host: string | undefined } | { ok: false; reason: string };

/** The one value of `name`; absent, or an error when it arrived more than once. */
export function singleHeader(req: IncomingMessage, name: string): HeaderValue {
  const values = req.headersDistinct[name];
  if (!values?.length) return { ok: true, value: undefined };
  if (values.length > 1) return { ok: false, reason: `${name} arrived ${values.length} times` };
  return { ok: true, value: values[0]!.trim() || undefined };
}

export function forwardedOrigin(req: IncomingMessage): ForwardedOrigin {
  const proto = listFree(req, 'x-forwarded-proto');
  if (!proto.ok) return proto;
  const host = listFree(req, 'x-forwarded-host');
  if (!host.ok) return host;
  const forwarded = parseForwarded(req);
  if (!forwarded.ok) return forwarded;

  if (host.value && forwarded.host && host.value.toLowerCase() !== forwarded.host.toLowerCase()) {
    return { ok: false, reason: 'X-Forwarded-Host and Forwarded host= disagree' };
  }
  if (
    proto.value &&
    forwarded.proto &&
    proto.value.toLowerCase() !== forwarded.proto.toLowerCase()
  ) {
    return { ok: false, reason: 'X-Forwarded-Proto and Forwarded proto= disagree' };
  }
  const scheme = (proto.value ?? forwarded.proto)?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    return { ok: false, reason: `unusable forwarded scheme ${scheme}` };
  }
  return { ok: true, proto: scheme, host: host.value ?? forwarded.host };
}

/** A single value that is not a comma list: a list is a chain whose first entry is unknowable. */
function listFree(req: IncomingMessage, name: string): HeaderValue {
  const single = singleHeader(req, name);
  if (single.ok && single.value?.includes(',')) {
    return { ok: false, reason: `${name} holds a list` };
  }
  return single;
}

function parseForwarded(
  req: IncomingMessage,
): { ok: true; proto?: string; host?: string } | { ok: false; reason: string } {
  const header = listFree(req, 'forwarded');
  if (!header.ok) return header;
  if (!header.value) return { ok: true };

  const pairs: Record<string, string> = {};
  for (const part of header.value.split(';')) {
    const match = /^\s*([A-Za-z]+)=("([^"\\]*)"|[^\s"]*)\s*$/.exec(part);
    if (!match) return { ok: false, reason: 'Forwarded is malformed' };
    const key = match[1]!.toLowerCase();
    if (key in pairs) return { ok: false, reason: `Forwarded names ${key}= twice` };
    pairs[key] = match[3] ?? match[2]!;
  }
  return {
    ok: true,
    ...(pairs.proto ? { proto: pairs.proto } : {}),
    ...(pairs.host ? { host: pairs.host } : {}),
  };
}
