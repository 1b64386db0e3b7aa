/**
 * A sign-in driven one hop at a time, so a test can stop at the callback and change or replay
 * it: `untilCallback` opens a URL, signs in at the provider and returns the callback URL
 * Gatehouse would be sent to, without requesting it.
 * @module
 */
import type { Browser } from './browser.ts';
import { formRequest, parseForm } from './html-form.ts';
import { PREFIX } from './stack.ts';

export async function untilCallback(
  browser: Browser,
  start: string,
  origin: string,
  username = 'alice',
  password = `${username}-password`,
): Promise<URL> {
  const callback = `${origin}${PREFIX}/callback`;
  let url = new URL(start);
  let options = {};
  for (let hop = 0; hop < 20; hop++) {
    const answer = await browser.request(url, options);
    const location = answer.headers.location;
    if (location) {
      const next = new URL(location, url);
      if (next.href.startsWith(callback)) return next;
      url = next;
      options = {};
      continue;
    }
    const form = parseForm(answer.body, url);
    if (!form) throw new Error(`no redirect and no form at ${url.href} (${answer.status})`);
    const fields: Record<string, string> = form.fields.has('password')
      ? { username, password }
      : {};
    url = form.action;
    options = formRequest(form, fields);
  }
  throw new Error('the sign-in never reached the callback');
}
