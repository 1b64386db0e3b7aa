/**
 * The embedded provider's own interaction routes: a login form that checks the demo users'
 * passwords, and consent granted without a page (every client here is first-party).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Interaction, Provider } from 'oidc-provider';
import { errors } from 'oidc-provider';

import { errorPage, loginPage } from './provider-pages.ts';
import { passwordMatches } from './users.ts';
import type { UserDirectory } from './users.ts';

export interface InteractionEvents {
  (name: 'login.success' | 'login.failure', detail: { username: string; uid: string }): void;
}

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;
const MAX_FORM_BYTES = 16 * 1024;

/**
 * Returns a handler that answers the interaction routes and reports `false` for any other
 * request, which then goes to oidc-provider.
 */
export function interactionRoutes(
  provider: Provider,
  users: UserDirectory,
  emit: InteractionEvents,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const match = ROUTE.exec(new URL(req.url ?? '/', 'http://provider.invalid').pathname);
    if (!match) return false;
    const [, uid = '', login] = match;

    try {
      if (req.method === 'GET' && !login) {
        await showInteraction(provider, users, uid, req, res);
      } else if (req.method === 'POST' && login) {
        await submitLogin(provider, users, emit, uid, req, res);
      } else {
        sendHtml(res, 405, errorPage({ error: 'method_not_allowed' }));
      }
    } catch (error) {
      if (error instanceof errors.SessionNotFound) {
        const detail = (error as { error_description?: string }).error_description;
        sendHtml(res, 400, errorPage({ error: 'interaction_expired', detail: detail ?? '' }));
      } else {
        throw error;
      }
    }
    return true;
  };
}

async function showInteraction(
  provider: Provider,
  users: UserDirectory,
  uid: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const interaction = await currentInteraction(provider, uid, req, res);

  switch (interaction.prompt.name) {
    case 'login':
      sendHtml(res, 200, loginPage({ uid, clientId: clientIdOf(interaction), users: users.all() }));
      return;
    case 'consent':
      await grantConsent(provider, interaction, req, res);
      return;
    default:
      sendHtml(
        res,
        400,
        errorPage({ error: 'unsupported_prompt', prompt: interaction.prompt.name }),
      );
  }
}

async function submitLogin(
  provider: Provider,
  users: UserDirectory,
  emit: InteractionEvents,
  uid: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const interaction = await currentInteraction(provider, uid, req, res);
  const form = await readForm(req);
  const username = form.get('username')?.trim() ?? '';
  const password = form.get('password') ?? '';

  const user = users.byUsername(username);
  if (
    interaction.prompt.name !== 'login' ||
    !user ||
    !users.isActive(user.sub) ||
    !passwordMatches(user, password)
  ) {
    emit('login.failure', { username, uid });
    const page = loginPage({
      uid,
      clientId: clientIdOf(interaction),
      users: users.all(),
      username,
      error: 'Wrong username or password.',
    });
    sendHtml(res, 401, page);
    return;
  }

  emit('login.success', { username, uid });
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.sub } },
    { mergeWithLastSubmission: false },
  );
}

/** Answers a consent prompt (e.g. `prompt=consent`) by granting what was asked for. */
async function grantConsent(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const accountId = interaction.session?.accountId;
  if (!accountId) {
    sendHtml(res, 400, errorPage({ error: 'no_session' }));
    return;
  }

  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId: clientIdOf(interaction) });
  const details = interaction.prompt.details;
  const scopes = stringList(details['missingOIDCScope']);
  const claims = stringList(details['missingOIDCClaims']);
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  if (claims.length) grant.addOIDCClaims(claims);
  const grantId = await grant.save();

  const consent = existing ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function currentInteraction(
  provider: Provider,
  uid: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Interaction> {
  const interaction = await provider.interactionDetails(req, res);
  // The cookie names the interaction; a URL naming another one is a stale or forged link.
  if (interaction.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  return interaction;
}

function clientIdOf(interaction: Interaction): string {
  const clientId = interaction.params['client_id'];
  return typeof clientId === 'string' ? clientId : '';
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) break;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}
