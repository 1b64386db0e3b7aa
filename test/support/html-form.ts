/**
 * Reading HTML forms with regexes: enough for the provider's and Gatehouse's own simple
 * pages, which is all the test browser submits.
 *
 * @module
 */
import type { RequestOptions } from './browser.ts';

export interface ParsedForm {
  action: URL;
  method: string;
  fields: Map<string, string>;
}

/** Finds the first form (or the one with `formId`) and the fields it would submit. */
export function parseForm(
  html: string,
  baseUrl: string | URL,
  formId?: string,
): ParsedForm | undefined {
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    if (formId !== undefined && attributes.get('id') !== formId) continue;

    const fields = new Map<string, string>();
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const field = parseAttributes(input[1] ?? '');
      const name = field.get('name');
      const type = field.get('type')?.toLowerCase() ?? 'text';
      if (
        !name ||
        type === 'submit' ||
        ((type === 'checkbox' || type === 'radio') && !field.has('checked'))
      ) {
        continue;
      }
      fields.set(name, field.get('value') ?? '');
    }

    return {
      action: new URL(attributes.get('action') || String(baseUrl), baseUrl),
      method: (attributes.get('method') ?? 'GET').toUpperCase(),
      fields,
    };
  }
  return undefined;
}

export function formRequest(form: ParsedForm, overrides: Record<string, string>): RequestOptions {
  const values = new URLSearchParams([...form.fields, ...Object.entries(overrides)]);
  const merged = new URLSearchParams([...new Map(values)]);
  if (form.method === 'POST') return { method: 'POST', body: merged };
  form.action.search = merged.toString();
  return { method: 'GET' };
}

function parseAttributes(source: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const pattern = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g;
  for (const [, name = '', double, single, bare] of source.matchAll(pattern)) {
    attributes.set(name.toLowerCase(), decodeEntities(double ?? single ?? bare ?? ''));
  }
  return attributes;
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(parseInt(code, 16)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}
