/**
 * Turns every outcome of the gate other than an allow into the answer a flavour understands:
 * a login redirect, a 401 for API clients and nginx, a 403 page, a 503 that keeps the cookie.
 * @module
 */
import type { Logger } from 'pino';
import { GatehouseError } from '../errors.ts';
import type { Flavour } from '../forward/adapters.ts';
import type { Allow, Decision } from '../gate/decision.ts';
import type { OriginalRequest } from '../gate/original-request.ts';
import { isNavigation, isSafeMethod } from '../gate/request-kind.ts';
import { parseCookies, type CookieJar } from '../http/cookies.ts';
import type { LoginFlows } from '../oidc/login-flow.ts';
import { looksLikeCookieLoop } from '../oidc/sign-in-marker.ts';
import { resolveReturnUrl, type ReturnUrl } from '../oidc/return-url.ts';
import { clearSessionCookie } from '../session/session-cookie.ts';
import type { Application } from './application.ts';
import { cookiesNotKeptPage } from './pages.ts';
import { json, page, redirect, type Reply } from './replies.ts';

export type Responder = Flavour | 'proxy';

export type ChallengeContext = {
  app: Application;
  request: OriginalRequest;
  responder: Responder;
  flows: LoginFlows;
  log: Logger;
};

export function startUrl(app: Application, returnTo: ReturnUrl): string {
  return `${app.origin.origin}${app.pathPrefix}/start?rd=${encodeURIComponent(returnTo)}`;
}

export async function challenge(
  decision: Exclude<Decision, Allow>,
  context: ChallengeContext,
): Promise<Reply> {
  const { app, request, responder } = context;
  const clear =
    'clearSessionCookie' in decision && decision.clearSessionCookie
      ? [clearSessionCookie(app.cookie)]
      : [];

  switch (decision.kind) {
    case 'login':
      return login(resolveReturnUrl(decision.returnTo, app), clear, context);
    case 'unauthenticated':
      return json(
        401,
        {
          error: 'unauthenticated',
          login_url: startUrl(app, resolveReturnUrl(request.url.href, app)),
        },
        clear.length ? { 'Set-Cookie': clear } : {},
      );
    case 'invalid_credential':
      // A machine client cannot follow a login; it needs to know its token was refused.
      return json(
        401,
        { error: 'invalid_token', reason: decision.reason },
        { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      );
    case 'forbidden':
      return isNavigation(request.headers)
        ? forbidden(app, decision.claims, responder)
        : json(403, { error: 'forbidden' });
    case 'unavailable':
      return unavailable(decision.retryAfterSeconds);
    case 'bad_request':
      return json(400, { error: 'bad_request', reason: decision.reason });
  }
}

async function login(
  returnTo: ReturnUrl,
  clear: string[],
  context: ChallengeContext,
): Promise<Reply> {
  const { app, request, responder, flows } = context;
  const status = isSafeMethod(request.method) ? 302 : 303;

  // nginx understands only 2xx, 401 and 403 from auth_request, and passes one Set-Cookie:
  // it gets a 401 whose Location the snippet turns into a redirect to /start.
  if (responder === 'nginx') {
    return {
      status: 401,
      headers: {
        Location: startUrl(app, returnTo),
        ...(clear.length ? { 'Set-Cookie': clear } : {}),
      },
    };
  }
  // Domain-level sign-in: the flow runs on the auth host, where the callback is.
  if (request.url.origin !== app.origin.origin)
    return redirect(status, startUrl(app, returnTo), clear);

  return beginLogin({
    app,
    returnTo,
    cookies: parseCookies(request.headers.cookie),
    status,
    clear,
    flows,
    log: context.log,
  });
}

export type LoginStart = {
  app: Application;
  returnTo: ReturnUrl;
  cookies: CookieJar;
  status: 302 | 303;
  /** Set-Cookie lines sent along, such as the clearing of a stale session cookie. */
  clear: string[];
  flows: LoginFlows;
  log: Logger;
  /** Restarts of a flow whose cookie did not come back; bounded by the caller. */
  attempt?: number;
};

/**
 * Sends the browser to the provider with a new flow, on the application's own origin, unless
 * it has just completed two sign-ins that left no session behind: then it drops the session
 * cookie, and another round would only loop.
 */
export async function beginLogin(start: LoginStart): Promise<Reply> {
  const { app, returnTo, cookies, flows, log } = start;
  if (!start.attempt && looksLikeCookieLoop(cookies)) {
    log.warn({ event: 'login_loop_stopped', app: app.name, reason: 'session cookie not kept' });
    return cookiesNotKeptPage(app, returnTo);
  }
  try {
    const { location, setCookies } = await flows.start(app, returnTo, cookies, start.attempt);
    return redirect(start.status, location, [...start.clear, ...setCookies]);
  } catch (error) {
    log.error({ event: 'login_start_failed', app: app.name, err: error });
    return providerUnavailable(error);
  }
}

export function forbidden(
  app: Application,
  claims: Record<string, unknown>,
  responder: Responder,
): Reply {
  const who = String(claims.preferred_username ?? claims.email ?? claims.sub ?? 'unknown');
  if (responder === 'nginx') return { status: 403 };
  return page(
    403,
    'Access denied',
    [`You are signed in as ${who}, but ${app.name} does not admit this account.`],
    {},
    {
      href: `${app.origin.origin}${app.pathPrefix}/sign_out`,
      text: 'Sign out and use another account',
    },
  );
}

export function unavailable(retryAfterSeconds: number): Reply {
  return json(
    503,
    { error: 'unavailable', reason: 'session store unavailable' },
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

export function providerUnavailable(error: unknown): Reply {
  const reason = error instanceof GatehouseError ? error.message : 'identity provider unavailable';
  return json(503, { error: 'unavailable', reason }, { 'Retry-After': '10' });
}
