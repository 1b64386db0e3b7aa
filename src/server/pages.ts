/**
 * The pages Gatehouse shows when a sign-in cannot go on, each naming the likely cause.
 * @module
 */
import type { ReturnUrl } from '../oidc/return-url.ts';
import { clearSignIns } from '../oidc/sign-in-marker.ts';
import type { Application } from './application.ts';
import { startUrl } from './challenge.ts';
import { page, type Reply } from './replies.ts';

export function signedOutPage(app: Application, clear: string[]): Reply {
  return page(
    200,
    'Signed out',
    [`You are signed out of ${app.name}.`],
    { 'Set-Cookie': clear },
    {
      href: `${app.origin.origin}/`,
      text: 'Sign in again',
    },
  );
}

export function exchangeFailedPage(app: Application, returnTo: ReturnUrl): Reply {
  return page(
    502,
    'Sign-in failed at the identity provider',
    [
      'The identity provider would not exchange the sign-in code twice in a row, so Gatehouse ' +
        'stopped instead of trying forever.',
      'Likely causes: a wrong client_id or client_secret for this application, clocks that ' +
        'disagree by more than clock_leeway, or an outage at the provider. The log entry ' +
        'login_failed has the details.',
    ],
    {},
    { href: startUrl(app, returnTo), text: 'Try once more' },
  );
}

export function cookiesNotKeptPage(app: Application, returnTo: ReturnUrl): Reply {
  const secure = app.origin.protocol === 'https:';
  return page(
    400,
    'Sign-in cannot finish: cookies are not kept',
    [
      'Your browser came back from the identity provider twice without the cookie Gatehouse ' +
        'set when the sign-in started, so signing in again would loop.',
      'Likely causes: cookies are blocked for this site;' +
        (secure
          ? ' the site is configured as https:// but was opened over http:// ' +
            '(the cookie is Secure);'
          : '') +
        ' the address in the browser differs from the configured external_host ' +
        `(${app.origin.origin}); or a cookie_domain that does not cover this host.`,
    ],
    // Cleared so that the retry link really starts afresh.
    { 'Set-Cookie': [clearSignIns()] },
    { href: startUrl(app, returnTo), text: 'Try once more' },
  );
}
