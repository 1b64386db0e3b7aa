/**
 * Finding the system binaries that end-to-end tests drive (nginx, caddy, redis-server,
 * chromium), and skipping or failing cleanly when one is missing.
 *
 * @module
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package commands for the binaries the suite knows about. */
export const INSTALL_HINTS: Readonly<Record<string, string>> = {
  nginx: 'apt-get install nginx-light',
  caddy: 'apt-get install caddy',
  'redis-server': 'apt-get install redis-server',
  chromium: 'apt-get install chromium',
  openssl: 'apt-get install openssl',
};

/** Folders searched after `PATH`, since a non-root shell often lacks the sbin ones. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin', '/sbin'];

/** The absolute path of an executable called `name`, or null when none is found. */
export function findBinary(name: string): string | null {
  const pathDirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of [...pathDirs, ...EXTRA_DIRS]) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** What a test file needs to know about one binary. */
export interface RequiredBinary {
  /** Absolute path, or null when the binary is missing (and the run is not CI). */
  path: string | null;
  /** `false` when the binary is there, else the reason to pass as node:test's `skip`. */
  skip: string | false;
}

/**
 * Looks a binary up for a test file: a missing one skips its tests locally and fails
 * the run when `CI=true`, so CI can never pass by skipping.
 *
 * Call it at the top level of the test file; in CI the thrown error fails the file.
 *
 * @example
 * ```ts
 * const nginx = requireBinary('nginx');
 * test('nginx answers through the snippet', { skip: nginx.skip }, async () => { ... });
 * ```
 *
 * @param installHint the command that installs it; defaults to {@link INSTALL_HINTS}.
 * @throws Error naming the binary and its install command, when missing and `CI=true`.
 */
export function requireBinary(name: string, installHint?: string): RequiredBinary {
  const path = findBinary(name);
  if (path !== null) return { path, skip: false };

  const hint = installHint ?? INSTALL_HINTS[name] ?? `install ${name}`;
  const message = `${name} not found; install it with: ${hint}`;
  if (process.env.CI === 'true') {
    throw new Error(`${message} (CI=true, so a missing binary fails the run)`);
  }
  return { path: null, skip: message };
}
