/**
 * Signing keys of the embedded provider: one RS256 and one ES256 key, generated at start or
 * read back from a file so that tokens issued before a restart still verify.
 *
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';

export interface SigningKeys {
  keys: JWK[];
}

const ALGORITHMS = ['RS256', 'ES256'] as const;

export async function loadSigningKeys(file?: string): Promise<SigningKeys> {
  if (file) {
    const stored = await readStored(file);
    if (stored) return stored;
  }

  const keys = await Promise.all(ALGORITHMS.map(generateSigningKey));
  if (file) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  }
  return { keys };
}

async function generateSigningKey(alg: (typeof ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

async function readStored(file: string): Promise<SigningKeys | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  const parsed = JSON.parse(text) as Partial<SigningKeys>;
  const algs = new Set(parsed.keys?.map((key) => key.alg));
  // A file missing one of the algorithms (an older demo, a hand edit) is replaced.
  return ALGORITHMS.every((alg) => algs.has(alg)) ? (parsed as SigningKeys) : undefined;
}
