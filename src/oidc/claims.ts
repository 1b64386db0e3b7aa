import type { Claims } from '../session/record.ts';

/** Claims about the token itself rather than the person; they do not belong in an identity. */
const PROTOCOL_CLAIMS = [
  'aud',
  'exp',
  'iat',
  'nbf',
  'nonce',
  'at_hash',
  'c_hash',
  'auth_time',
  'azp',
  'jti',
];

export function withoutProtocolClaims(claims: Claims): Claims {
  const copy = { ...claims };
  for (const name of PROTOCOL_CLAIMS) delete copy[name];
  return copy;
}

/**
 * Signature algorithms accepted on tokens Gatehouse verifies itself (logout tokens, Bearer
 * tokens). Asymmetric only: with HMAC, anyone who knows the verification key (for a JWKS, the
 * public key; for a client, its secret) could mint tokens. jose never accepts `none`.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];
