/**
 * Forged identity headers for tests: every spelling a client might use to slip a header past a
 * filter that compares names exactly (letter case, `_` for `-`), one distinct value per header so
 * a single request proves each one, and the check of what the application then received.
 *
 * @example
 * ```ts
 * const forged = forgeHeaders(headerNames(['authentik']), SPELLINGS[0]!);
 * await browser.request(url, { headers: forged.headers });
 * assertIdentity(stack.whoami.requests.at(-1)!, { 'X-authentik-username': 'bob' }, forged);
 * ```
 * @module
 */
import assert from 'node:assert/strict';

import type { RecordedRequest } from '../../src/demo/whoami.ts';

export type Spelling = { label: string; spell(name: string): string };

const CASES: Array<[string, (name: string) => string]> = [
  ['as written', (name) => name],
  ['lower case', (name) => name.toLowerCase()],
  ['upper case', (name) => name.toUpperCase()],
];

/** Three letter cases, each with `-` and with `_` between the words. */
export const SPELLINGS: readonly Spelling[] = CASES.flatMap(([label, recase]) => [
  { label, spell: recase },
  { label: `${label}, _ for -`, spell: (name: string) => recase(name).replaceAll('-', '_') },
]);

/** Every forged value starts with this, so any that reaches the application can be found. */
export const FORGED_MARK = 'forged-by-client-';

export type Forged = {
  spelling: Spelling;
  /** The request headers to send, each name spelled the forged way. */
  headers: Record<string, string>;
  /** The forged value sent for each header name as Gatehouse writes it. */
  values: Record<string, string>;
};

export function forgeHeaders(names: readonly string[], spelling: Spelling): Forged {
  const headers: Record<string, string> = {};
  const values: Record<string, string> = {};
  names.forEach((name, index) => {
    const value = `${FORGED_MARK}${index}`;
    headers[spelling.spell(name)] = value;
    values[name] = value;
  });
  return { spelling, headers, values };
}

/** Values the application got under `name`, in any letter case and with `_` for `-`. */
export function receivedValues(request: RecordedRequest, name: string): string[] {
  const wanted = normalise(name);
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    if (normalise(request.rawHeaders[i]!) === wanted) values.push(request.rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * Asserts that no forged value reached the application and that each header carried exactly
 * Gatehouse's value: the string given, or, for `null`, some non-empty value (an access token).
 */
export function assertIdentity(
  request: RecordedRequest,
  expected: Record<string, string | null>,
  forged: Forged,
): void {
  assertNothingForged(request, forged);
  for (const [name, value] of Object.entries(expected)) {
    const seen = receivedValues(request, name);
    const where = `${name} (forged ${forged.spelling.label})`;
    assert.equal(seen.length, 1, `${where}: the application got ${JSON.stringify(seen)}`);
    if (value === null) assert.ok(seen[0], `${where}: empty`);
    else assert.equal(seen[0], value, where);
  }
}

/** Asserts that no forged value reached the application and each header is absent or empty. */
export function assertNoIdentity(
  request: RecordedRequest,
  names: readonly string[],
  forged: Forged,
): void {
  assertNothingForged(request, forged);
  for (const name of names) {
    const seen = receivedValues(request, name);
    const where = `${name} (forged ${forged.spelling.label})`;
    assert.ok(seen.length <= 1, `${where}: the application got ${JSON.stringify(seen)}`);
    assert.ok(
      seen.every((value) => value === ''),
      `${where}: the application got ${seen[0]}`,
    );
  }
}

function assertNothingForged(request: RecordedRequest, forged: Forged): void {
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const [name, value] = [request.rawHeaders[i]!, request.rawHeaders[i + 1]!];
    assert.ok(
      !value.includes(FORGED_MARK),
      `forged ${forged.spelling.label}: the application got ${name}: ${value}`,
    );
  }
}

function normalise(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}
