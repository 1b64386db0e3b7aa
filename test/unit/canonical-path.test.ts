import assert from 'node:assert/strict';
import { test } from 'node:test';

import { canonicalPath } from '../../src/gate/canonical-path.ts';

const CANONICAL: Array<[target: string, path: string]> = [
  ['/', '/'],
  ['/public/x', '/public/x'],
  ['/public/x?y=../../admin', '/public/x'],
  ['/p%75blic/x', '/public/x'],
  ['/%7Euser/%41', '/~user/A'],
  ['/public//x', '/public/x'],
  ['/public/x/', '/public/x/'],
  ['/Public/X', '/Public/X'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/a%20b', '/a%20b'],
];

for (const [target, path] of CANONICAL) {
  test(`canonical path: ${JSON.stringify(target)} reads as ${path}`, () => {
    const result = canonicalPath(target);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.path, path);
    assert.equal(result.exemptable, true);
  });
}

const NEVER_EXEMPT = ['/admin%2Fx', '/public%2Fx', '/admin;jsessionid=1', '/public;x/y'];

test('an encoded slash or ; parameters make a path never exempt, and rules read the specific form', () => {
  for (const target of NEVER_EXEMPT) {
    const result = canonicalPath(target);
    assert.ok(result.ok, target);
    assert.equal(result.exemptable, false, target);
  }
  const slash = canonicalPath('/admin%2Fx');
  assert.ok(slash.ok);
  assert.equal(slash.rulePath, '/admin/x');
  const parameters = canonicalPath('/admin;jsessionid=1');
  assert.ok(parameters.ok);
  assert.equal(parameters.rulePath, '/admin');
});

const REFUSED: string[] = [
  '',
  'public/x',
  '//evil.example/public/x',
  '/public/../admin',
  '/public/./x',
  '/public/%2e%2e/admin',
  '/public/.%2E/admin',
  '/public/..;/admin',
  '/public/.;x/admin',
  '/public%2F..%2Fadmin',
  '/..',
  '/public\\..\\admin',
  '/public/%5C/x',
  '/public/%00',
  '/public/x\u0000',
  '/public/\tx',
  '/public/%0ax',
  '/public/x#/../admin',
  '/public/%zz',
  '/public/%4',
];

for (const target of REFUSED) {
  test(`canonical path: ${JSON.stringify(target)} is refused`, () => {
    assert.equal(canonicalPath(target).ok, false);
  });
}
