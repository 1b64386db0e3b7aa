import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SECRET, startStack } from '../support/stack.ts';
import { TEST_CLIENT_SECRET } from '../support/provider.ts';

test('log lines are JSON with an event, and carry no cookie, token, code or secret', async (t) => {
  const lines: string[] = [];
  const stack = await startStack({
    config: { log_level: 'trace' },
    logTo: { write: (line) => void lines.push(line) },
  });
  t.after(() => stack.close());
  const browser = stack.browser();

  const landed = await browser.login(stack.appUrl('/'), 'alice');
  const code = landed.hops
    .map((hop) => hop.location && new URL(hop.location, hop.url).searchParams.get('code'))
    .find(Boolean);
  const cookie = browser.getCookie('gatehouse_session_app', stack.origin)!;
  await browser.request(stack.appUrl('/again'), {
    headers: { authorization: 'Bearer not-a-real-token' },
  });
  await browser.navigate(`${stack.origin}/outpost.goauthentik.io/sign_out`, { submitForms: true });
  await browser.request(stack.appUrl('/garbled'), {
    headers: { cookie: 'gatehouse_session_app=garbage' },
  });
  const record = stack.whoami.requests.find((request) => request.headers['x-authentik-jwt']);
  const accessToken = String(record?.headers['x-authentik-jwt']);

  assert.ok(lines.length > 3, `something was logged: ${lines.join('')}`);
  const text = lines.join('');
  for (const line of lines) {
    const entry = JSON.parse(line) as { event?: string };
    assert.equal(typeof entry.event, 'string', line);
  }
  assert.ok(code, 'the login had a code');
  assert.ok(accessToken.length > 10, 'the app saw an access token');
  for (const [name, value] of [
    ['session cookie', cookie.value],
    ['authorization code', code!],
    ['access token', accessToken],
    ['Gatehouse secret', SECRET],
    ['client secret', TEST_CLIENT_SECRET],
  ] as const) {
    assert.ok(!text.includes(value), `the log contains the ${name}`);
  }
});
