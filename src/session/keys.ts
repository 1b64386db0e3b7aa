import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Keys derived from the configured secret, one per purpose, so no key serves two jobs. */
export type Keys = { cookieTag: Buffer; flowEncryption: Buffer };

export function deriveKeys(secret: string): Keys {
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', secret, 'gatehouse', label, 32));
  return {
    cookieTag: derive('session-cookie-tag'),
    flowEncryption: derive('login-flow-encryption'),
  };
}

export function hmac(key: Buffer, value: string, bytes = 32): Buffer {
  return createHmac('sha256', key).update(value).digest().subarray(0, bytes);
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
