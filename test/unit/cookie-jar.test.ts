import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CookieJar, defaultPath, domainMatches, pathMatches } from '../support/cookie-jar.ts';

function jarAt(start = Date.UTC(2030, 0, 1)) {
  let now = start;
  const jar = new CookieJar({ now: () => now });
  return { jar, advance: (ms: number) => (now += ms) };
}

describe('cookie jar: domains', () => {
  test('a cookie without Domain goes back to its exact host only', () => {
    const { jar } = jarAt();
    assert.ok(jar.store('a=1', 'http://app.example.com/'));

    assert.equal(jar.header('http://app.example.com/'), 'a=1');
    assert.equal(jar.header('http://sub.app.example.com/'), '');
    assert.equal(jar.header('http://example.com/'), '');
  });

  test('Domain covers the domain and its subdomains, leading dot or not', () => {
    const { jar } = jarAt();
    jar.store('a=1; Domain=example.com', 'http://auth.example.com/');
    jar.store('b=2; Domain=.example.com', 'http://auth.example.com/');

    assert.equal(jar.header('http://example.com/'), 'a=1; b=2');
    assert.equal(jar.header('http://app.example.com/'), 'a=1; b=2');
    assert.equal(jar.header('http://notexample.com/'), '');
  });

  test('a Domain the host does not belong to is refused', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('a=1; Domain=other.com', 'http://app.example.com/'), false);
    assert.equal(jar.store('a=1; Domain=app.example.com', 'http://example.com/'), false);
    assert.deepEqual(jar.all(), []);
  });

  test('domain matching stops at dot boundaries and never applies to IP addresses', () => {
    assert.equal(domainMatches('app.example.com', 'example.com'), true);
    assert.equal(domainMatches('badexample.com', 'example.com'), false);
    assert.equal(domainMatches('10.0.0.1', '0.0.1'), false);
    assert.equal(domainMatches('127.0.0.1', '127.0.0.1'), true);
  });

  test('host names compare without letter case', () => {
    const { jar } = jarAt();
    jar.store('a=1; Domain=Example.COM', 'http://APP.example.com/');
    assert.equal(jar.header('http://app.EXAMPLE.com/'), 'a=1');
  });
});

describe('cookie jar: paths', () => {
  test('the default path is the request path up to its last slash', () => {
    assert.equal(defaultPath('/'), '/');
    assert.equal(defaultPath('/login'), '/');
    assert.equal(defaultPath('/a/b/c'), '/a/b');
    assert.equal(defaultPath('/a/b/'), '/a/b');
  });

  test('a path matches itself and what lies below it at a slash', () => {
    assert.equal(pathMatches('/outpost', '/outpost'), true);
    assert.equal(pathMatches('/outpost/callback', '/outpost'), true);
    assert.equal(pathMatches('/outpost/callback', '/outpost/'), true);
    assert.equal(pathMatches('/outpostx', '/outpost'), false);
    assert.equal(pathMatches('/', '/outpost'), false);
  });

  test('cookies with longer paths are sent first', () => {
    const { jar, advance } = jarAt();
    jar.store('short=1; Path=/', 'http://h.test/');
    advance(1);
    jar.store('long=2; Path=/a/b', 'http://h.test/');

    assert.equal(jar.header('http://h.test/a/b/c'), 'long=2; short=1');
    assert.equal(jar.header('http://h.test/a'), 'short=1');
  });

  test('a Path not starting with a slash falls back to the default path', () => {
    const { jar } = jarAt();
    jar.store('a=1; Path=relative', 'http://h.test/dir/page');
    assert.equal(jar.all()[0]?.path, '/dir');
  });

  test('the same name, domain and path replaces; another path adds a cookie', () => {
    const { jar } = jarAt();
    jar.store('a=1; Path=/', 'http://h.test/');
    jar.store('a=2; Path=/', 'http://h.test/');
    jar.store('a=3; Path=/x', 'http://h.test/');

    assert.equal(jar.all().length, 2);
    assert.equal(jar.header('http://h.test/'), 'a=2');
    assert.equal(jar.header('http://h.test/x'), 'a=3; a=2');
  });
});

describe('cookie jar: expiry', () => {
  test('Max-Age expires the cookie after that many seconds', () => {
    const { jar, advance } = jarAt();
    jar.store('a=1; Max-Age=10', 'http://h.test/');
    advance(9_000);
    assert.equal(jar.header('http://h.test/'), 'a=1');
    advance(1_000);
    assert.equal(jar.header('http://h.test/'), '');
  });

  test('Max-Age=0 deletes an existing cookie', () => {
    const { jar } = jarAt();
    jar.store('a=1', 'http://h.test/');
    jar.store('a=; Max-Age=0', 'http://h.test/');
    assert.deepEqual(jar.all(), []);
  });

  test('an Expires in the past deletes an existing cookie', () => {
    const { jar } = jarAt();
    jar.store('a=1; Path=/', 'http://h.test/');
    jar.store('a=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/');
    assert.deepEqual(jar.all(), []);
  });

  test('Max-Age wins over Expires whatever their order', () => {
    const { jar } = jarAt();
    jar.store('a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/');
    jar.store('b=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60', 'http://h.test/');
    assert.equal(jar.header('http://h.test/'), 'a=1; b=1');
  });

  test('a deletion only removes the cookie with the same domain and path', () => {
    const { jar } = jarAt();
    jar.store('a=1; Path=/', 'http://h.test/');
    jar.store('a=; Path=/other; Max-Age=0', 'http://h.test/');
    assert.equal(jar.header('http://h.test/'), 'a=1');
  });
});

describe('cookie jar: Secure and prefixes', () => {
  test('Secure cookies from plain http on a public host are refused', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('a=1; Secure', 'http://app.example.com/'), false);
    assert.ok(jar.store('a=1; Secure', 'https://app.example.com/'));
  });

  test('Secure cookies are not sent over plain http to a public host', () => {
    const { jar } = jarAt();
    jar.store('a=1; Secure; Domain=example.com', 'https://app.example.com/');
    assert.equal(jar.header('https://app.example.com/'), 'a=1');
    assert.equal(jar.header('http://app.example.com/'), '');
  });

  test('localhost, *.localhost and 127.0.0.1 count as secure contexts over http', () => {
    const { jar } = jarAt();
    for (const origin of [
      'http://localhost:9000',
      'http://app.localhost:9000',
      'http://127.0.0.1:9000',
    ]) {
      assert.ok(jar.store('s=1; Secure', `${origin}/`), origin);
      assert.equal(jar.header(`${origin}/`), 's=1', origin);
    }
  });

  test('__Secure- cookies need the Secure attribute', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('__Secure-a=1', 'https://h.test/'), false);
    assert.ok(jar.store('__Secure-a=1; Secure; Domain=h.test', 'https://h.test/'));
  });

  test('__Host- cookies need Secure, Path=/ and no Domain', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('__Host-a=1; Path=/', 'https://h.test/'), false);
    assert.equal(jar.store('__Host-a=1; Secure', 'https://h.test/x/y'), false);
    assert.equal(jar.store('__Host-a=1; Secure; Path=/; Domain=h.test', 'https://h.test/'), false);
    assert.ok(jar.store('__Host-a=1; Secure; Path=/', 'https://h.test/'));
    assert.equal(jar.header('https://sub.h.test/'), '');
  });

  test('prefixes are recognised in any letter case', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('__HOST-a=1; Path=/', 'https://h.test/'), false);
    assert.equal(jar.store('__secure-a=1', 'https://h.test/'), false);
  });
});

describe('cookie jar: parsing and direct edits', () => {
  test('a header without a name=value pair is ignored', () => {
    const { jar } = jarAt();
    assert.equal(jar.store('novalue', 'http://h.test/'), false);
    assert.equal(jar.store('=1', 'http://h.test/'), false);
    assert.deepEqual(jar.all(), []);
  });

  test('values keep their = signs and attributes are read without letter case', () => {
    const { jar } = jarAt();
    jar.store('token=abc==; PATH=/; HTTPONLY; SAMESITE=Lax', 'http://h.test/');
    const [cookie] = jar.all();
    assert.equal(cookie?.value, 'abc==');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'lax');
  });

  test('set adds a cookie without the rules and delete removes it by name', () => {
    const { jar } = jarAt();
    jar.set('forged', 'x', 'http://h.test/', { domain: 'h.test' });
    assert.equal(jar.header('http://sub.h.test/'), 'forged=x');
    jar.delete('forged');
    assert.equal(jar.header('http://h.test/'), '');
  });
});
