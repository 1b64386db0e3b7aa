/**
 * HTML pages of the embedded provider: its login form, the sign-out confirmation and the
 * error and signed-out pages. Plain forms, so a client without JavaScript can use them.
 *
 * @module
 */
import { escapeHtml } from './html.ts';
import type { DemoUser } from './users.ts';

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;
padding:0 1rem;
color:#222}
h1{font-size:1.4rem}
label{display:block;margin:.6rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1.2rem}
.error{color:#b00020}
table{border-collapse:collapse;margin-top:1.5rem}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
code{background:#f3f3f3;padding:0 .2rem}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

export interface LoginPageInput {
  uid: string;
  clientId: string;
  users: readonly DemoUser[];
  username?: string;
  error?: string;
}

export function loginPage(input: LoginPageInput): string {
  const action = `/interaction/${encodeURIComponent(input.uid)}/login`;
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const rows = input.users
    .map(
      (user) =>
        `<tr><td><code>${escapeHtml(user.username)}</code></td><td>${escapeHtml(user.name)}</td>` +
        `<td><code>${escapeHtml(user.password)}</code></td>` +
        `<td>${escapeHtml(user.groups.join(', '))}</td></tr>`,
    )
    .join('\n');

  return page(
    'Sign in',
    `<h1>Sign in to ${escapeHtml(input.clientId)}</h1>
${error}
<form id="login" method="post" action="${escapeHtml(action)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autofocus
  value="${escapeHtml(input.username ?? '')}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>
<table>
<caption>Demo users</caption>
<tr><th>username</th><th>name</th><th>password</th><th>groups</th></tr>
${rows}
</table>`,
  );
}

/**
 * Wraps oidc-provider's logout form (it carries the xsrf token) so that it submits itself,
 * answering "sign out of everything", and still offers a real button inside the form.
 */
export function logoutPage(providerForm: string): string {
  const form = providerForm.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"/>' +
      '<button type="submit">Sign out</button></form>',
  );

  return page(
    'Sign out',
    `<h1>Signing you out…</h1>
${form}
<script>document.forms[0].submit();</script>`,
  );
}

export function signedOutPage(): string {
  return page('Signed out', '<h1>Signed out</h1><p>You have been signed out.</p>');
}

export function errorPage(out: Record<string, unknown>): string {
  const items = Object.entries(out)
    .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
    .join('\n');
  return page('Error', `<h1>Something went wrong</h1>\n${items}`);
}
