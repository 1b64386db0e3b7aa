/**
 * The authorization code flow with PKCE. Login state lives with the browser, not in the store:
 * the `state` parameter is sealed and carries the return URL and attempt count, and a small sealed
 * cookie per flow carries the nonce and PKCE verifier. Anonymous traffic therefore writes nothing,
 * several tabs can sign in at once, and a flow survives a restart of Gatehouse.
 * @module
 */
import { randomBytes, randomInt } from 'node:crypto';
import * as client from 'openid-client';
import { clearCookie, serializeCookie, type CookieJar } from '../http/cookies.ts';
import type { Application } from '../server/application.ts';
import type { Claims } from '../session/record.ts';
import type { ProviderConfigs } from './provider-configs.ts';
import type { ReturnUrl } from './return-url.ts';
import { withoutProtocolClaims } from './claims.ts';
import { seal, unseal } from './seal.ts';

const FLOW_COOKIE = 'gatehouse_flow_';
/** Open flows a browser may hold at once; the oldest is dropped when another starts. */
export const MAX_OPEN_FLOWS = 12;
const FLOW_TTL_SECONDS = 600;
/** How long a `state` still names its return URL after its cookie is gone (restart, slow login). */
const STATE_RECOVERY_MS = 24 * 3_600_000;

type SealedState = { f: string; s: number; app: string; r: string; a: number; t: number };
type SealedFlow = { f: string; n: string; v: string; t: number };

export type SignedIn = {
  kind: 'signed_in';
  returnTo: string;
  sub: string;
  sid?: string | undefined;
  claims: Claims;
  idToken?: string | undefined;
  accessToken: string;
  refreshToken?: string | undefined;
  accessTokenExpiresAt?: number | undefined;
  clearFlowCookie: string;
};

export type FlowOutcome =
  | SignedIn
  /** No matching flow cookie: restart (bounded by `attempt`), returning to `returnTo`. */
  | { kind: 'unknown_flow'; returnTo: string | undefined; attempt: number; reason: string }
  | { kind: 'provider_error'; error: string; description: string | undefined }
  /** The provider would not exchange the code; `returnTo` and `attempt` come from the state. */
  | { kind: 'failed'; error: Error; returnTo: string; attempt: number };

export class LoginFlows {
  readonly #configs: ProviderConfigs;
  readonly #key: Buffer;
  readonly #now: () => number;

  constructor(options: { configs: ProviderConfigs; key: Buffer; now?: () => number }) {
    this.#configs = options.configs;
    this.#key = options.key;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The provider URL to send the browser to and the cookies that go with it. The return URL is
   * sealed into `state` here, already checked: the callback never takes one from its query.
   */
  async start(
    app: Application,
    returnTo: ReturnUrl,
    cookies: CookieJar,
    attempt = 0,
  ): Promise<{ location: string; setCookies: string[] }> {
    const config = await this.#configs.get(app);
    const now = this.#now();
    const flowId = `${now.toString(36)}${randomBytes(6).toString('base64url')}`;
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();

    const slot = freeSlot(this.#openFlows(app, cookies));
    const state = seal(this.#key, 'state', {
      f: flowId,
      s: slot,
      app: app.name,
      r: returnTo,
      a: attempt,
      t: now,
    });
    const flow = seal(this.#key, 'flow', { f: flowId, n: nonce, v: verifier, t: now });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: app.callbackUrl,
      scope: app.config.oidc.scopes.join(' '),
      response_type: 'code',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });

    const cookie = serializeCookie(flowCookieName(app, slot), flow, {
      ...flowCookieAttributes(app),
      maxAgeSeconds: FLOW_TTL_SECONDS,
    });
    return { location: url.href, setCookies: [cookie] };
  }

  /** Completes a flow from the callback's query; never takes a return URL from the query itself. */
  async finish(app: Application, query: URLSearchParams, cookies: CookieJar): Promise<FlowOutcome> {
    const now = this.#now();
    const state = unseal<SealedState>(this.#key, 'state', query.get('state') ?? '');
    const recoverable = state && state.app === app.name && now - state.t < STATE_RECOVERY_MS;
    const unknown = (reason: string): FlowOutcome => ({
      kind: 'unknown_flow',
      returnTo: recoverable ? state.r : undefined,
      attempt: recoverable ? state.a : 0,
      reason,
    });

    if (!state) return unknown('state missing or not issued here');
    const error = query.get('error');
    if (error)
      return {
        kind: 'provider_error',
        error,
        description: query.get('error_description') ?? undefined,
      };
    if (!recoverable) return unknown('state expired or for another application');

    const cookieName = flowCookieName(app, state.s);
    const flow = cookies
      .get(cookieName)
      ?.map((value) => unseal<SealedFlow>(this.#key, 'flow', value))
      .find(Boolean);
    if (!flow || flow.f !== state.f) return unknown('no flow cookie for this state');
    if (now - flow.t > FLOW_TTL_SECONDS * 1000) return unknown('flow expired');

    try {
      const config = await this.#configs.get(app);
      const callback = new URL(app.callbackUrl);
      callback.search = query.toString();
      const tokens = await client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: flow.v,
        expectedNonce: flow.n,
        expectedState: query.get('state')!,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new Error('the token response has no ID token');
      const userinfo = await fetchUserinfo(config, tokens.access_token, idClaims.sub);
      return {
        kind: 'signed_in',
        returnTo: state.r,
        sub: idClaims.sub,
        sid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined,
        claims: { ...withoutProtocolClaims(idClaims), ...userinfo, sub: idClaims.sub },
        idToken: tokens.id_token,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        accessTokenExpiresAt: tokens.expires_in ? now + tokens.expires_in * 1000 : undefined,
        clearFlowCookie: clearCookie(cookieName, flowCookieAttributes(app)),
      };
    } catch (error) {
      return { kind: 'failed', error: error as Error, returnTo: state.r, attempt: state.a };
    }
  }

  /** Cookies that clear every open flow of this browser. */
  clearAll(app: Application, cookies: CookieJar): string[] {
    const attributes = flowCookieAttributes(app);
    return [...this.#openFlows(app, cookies).keys()].map((slot) =>
      clearCookie(flowCookieName(app, slot), attributes),
    );
  }

  /** The slots this browser's request carries a flow cookie in, with each flow's start time. */
  #openFlows(app: Application, cookies: CookieJar): Map<number, number> {
    const open = new Map<number, number>();
    for (let slot = 0; slot < MAX_OPEN_FLOWS; slot++) {
      const values = cookies.get(flowCookieName(app, slot));
      if (!values) continue;
      const flow = values
        .map((value) => unseal<SealedFlow>(this.#key, 'flow', value))
        .find(Boolean);
      open.set(slot, flow?.t ?? 0);
    }
    return open;
  }
}

/**
 * Flow cookies live in a fixed number of slots, so a browser never holds more than
 * MAX_OPEN_FLOWS of them, even when many tabs start a login at the same moment and none sees the
 * others' cookies. A free slot is taken when there is one; otherwise the oldest flow gives way.
 */
function freeSlot(open: Map<number, number>): number {
  const free = Array.from({ length: MAX_OPEN_FLOWS }, (_, slot) => slot).filter(
    (slot) => !open.has(slot),
  );
  // Requests that carry no flow cookies (parallel starts) spread over the slots at random.
  if (free.length === MAX_OPEN_FLOWS) return randomInt(MAX_OPEN_FLOWS);
  if (free.length) return free[0]!;
  return [...open].sort((a, b) => a[1] - b[1])[0]![0];
}

/**
 * `__Host-` on https: the browser then refuses a flow cookie planted from a sibling subdomain,
 * which would otherwise let an attacker finish their own login in someone else's browser.
 */
function flowCookieName(app: Application, slot: number): string {
  return `${app.origin.protocol === 'https:' ? '__Host-' : ''}${FLOW_COOKIE}${slot}`;
}

export function isFlowCookieName(name: string): boolean {
  return /^(__Host-)?gatehouse_flow_/.test(name);
}

function flowCookieAttributes(app: Application) {
  return {
    path: '/',
    secure: app.origin.protocol === 'https:',
    httpOnly: true,
    sameSite: 'Lax' as const,
  };
}

async function fetchUserinfo(
  config: client.Configuration,
  accessToken: string,
  sub: string,
): Promise<Claims> {
  if (!config.serverMetadata().userinfo_endpoint) return {};
  try {
    return await client.fetchUserInfo(config, accessToken, sub);
  } catch {
    // The ID token alone is a valid identity; a flaky userinfo endpoint should not block sign-in.
    return {};
  }
}
