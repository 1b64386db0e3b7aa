/**
 * Back-channel logout tokens signed with the test provider's own key, for tests that deliver
 * them by hand (replays, retries) instead of through the provider.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import * as jose from 'jose';

import { TEST_CLIENT_ID } from './provider.ts';
import { PREFIX } from './stack.ts';

export const LOGOUT_EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };

/** A valid logout token naming `sub` (and no `sid`), with a fresh `jti`, valid for 2 minutes. */
export async function logoutTokenFor(
  provider: { keysFile: string; issuer: string },
  sub: string,
): Promise<string> {
  const { keys } = JSON.parse(readFileSync(provider.keysFile, 'utf8')) as { keys: jose.JWK[] };
  const jwk = keys.find((key) => key.alg === 'RS256');
  if (!jwk?.kid) throw new Error(`no RS256 key with a kid in ${provider.keysFile}`);
  return new jose.SignJWT({ events: LOGOUT_EVENT, jti: randomUUID(), sub })
    .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: jwk.kid })
    .setIssuer(provider.issuer)
    .setAudience(TEST_CLIENT_ID)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(await jose.importJWK(jwk, 'RS256'));
}

/** POSTs `token` to the back-channel logout endpoint of the Gatehouse at `url`. */
export function postLogoutToken(url: string, token: string): Promise<Response> {
  return fetch(`${url}${PREFIX}/backchannel_logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });
}
