/**
 * An embedded OpenID Provider (oidc-provider) for the demo and the tests: authorization code
 * flow with PKCE, refresh tokens, back-channel and RP-initiated logout, and a login page of
 * its own that checks the demo users' passwords.
 *
 * @example
 * ```ts
 * const op = await startProvider({
 *   clients: [{ client_id: 'app', client_secret: 's3cret', redirect_uris: [callbackUrl] }],
 * });
 * // op.issuer is what a relying party discovers; op.close() stops it.
 * ```
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';

import Provider from 'oidc-provider';
import type { ProviderContext } from 'oidc-provider';

import { interactionRoutes } from './provider-interactions.ts';
import { loadSigningKeys } from './provider-keys.ts';
import { errorPage, logoutPage, signedOutPage } from './provider-pages.ts';
import { ProviderStore } from './provider-store.ts';
import { UserDirectory } from './users.ts';
import type { DemoUser } from './users.ts';

export interface ProviderClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  /** Default `client_secret_basic`; oidc-provider holds each client to its one method. */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post';
  /** Default `['authorization_code', 'refresh_token']`. */
  grant_types?: string[];
  /** Default `RS256`; `ES256` is also available. */
  id_token_signed_response_alg?: 'RS256' | 'ES256';
}

export interface ProviderOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  clients: ProviderClient[];
  users?: readonly DemoUser[];
  accessTokenTtlSeconds?: number;
  idTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  rotateRefreshToken?: boolean;
  /** Where the signing keys are kept so that tokens stay verifiable across restarts. */
  keysFile?: string;
  onEvent?: (name: string, detail: unknown) => void;
}

export interface ProviderCounters {
  tokenRequests: number;
  refreshGrants: number;
  userinfoRequests: number;
  backchannelLogouts: number;
  backchannelLogoutErrors: number;
}

export interface EndSessionsResult {
  /** Clients whose back-channel logout endpoint answered 200 or 204. */
  delivered: string[];
  failed: Array<{ clientId: string; error: Error }>;
}

export interface RunningProvider {
  /** The issuer exactly as discovery reports it (no trailing slash). */
  readonly issuer: string;
  readonly provider: Provider;
  readonly users: readonly DemoUser[];
  readonly counters: ProviderCounters;
  /** Changes the groups released from now on (new ID tokens, refreshes, userinfo). */
  setUserGroups(sub: string, groups: readonly string[]): void;
  /** Refuses the user's logins and refreshes and revokes their grants and sessions. */
  disableUser(sub: string): Promise<void>;
  /** Ends the user's sessions at the provider, delivering back-channel logout to clients. */
  endSessions(sub: string): Promise<EndSessionsResult>;
  close(): Promise<void>;
}

interface StoredAuthorization {
  sid?: string;
  grantId?: string;
}

const LOOPBACK_HOST = /^(localhost|.+\.localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

export async function startProvider(options: ProviderOptions): Promise<RunningProvider> {
  const host = options.host ?? '127.0.0.1';
  const emit = options.onEvent ?? (() => {});
  const directory = new UserDirectory(options.users);
  const counters: ProviderCounters = {
    tokenRequests: 0,
    refreshGrants: 0,
    userinfoRequests: 0,
    backchannelLogouts: 0,
    backchannelLogoutErrors: 0,
  };
  const store = new ProviderStore();

  let route: RequestListener | undefined;
  const server = createServer((req, res) => {
    if (route) route(req, res);
    else res.writeHead(503).end();
  });
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const jwks = await loadSigningKeys(options.keysFile);
  const provider = new Provider(issuer, configuration(options, directory, store, jwks));
  countRequests(provider, counters, emit);

  const interactions = interactionRoutes(provider, directory, emit);
  const callback = provider.callback();
  route = (req, res) => {
    interactions(req, res).then(
      (handled) => handled || callback(req, res),
      (error: unknown) => {
        emit('server_error', { error });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error');
      },
    );
  };

  async function endSessions(sub: string): Promise<EndSessionsResult> {
    const result: EndSessionsResult = { delivered: [], failed: [] };
    for (const session of store.list('Session')) {
      if (session['accountId'] !== sub) continue;
      const authorizations = (session['authorizations'] ?? {}) as Record<
        string,
        StoredAuthorization
      >;

      for (const [clientId, authorization] of Object.entries(authorizations)) {
        const client = await provider.Client.find(clientId);
        if (client?.backchannelLogoutUri && authorization.sid) {
          try {
            await client.backchannelLogout(sub, authorization.sid);
            counters.backchannelLogouts += 1;
            result.delivered.push(clientId);
          } catch (error) {
            counters.backchannelLogoutErrors += 1;
            result.failed.push({ clientId, error: error as Error });
          }
        }
        if (authorization.grantId) store.revokeGrant(authorization.grantId);
      }
      store.destroy('Session', String(session['jti']));
    }
    emit('end_sessions', { sub, ...result });
    return result;
  }

  return {
    issuer,
    provider,
    counters,
    get users() {
      return directory.all();
    },
    setUserGroups(sub, groups) {
      directory.update(sub, { groups: [...groups] });
    },
    async disableUser(sub) {
      directory.disable(sub);
      for (const grant of store.list('Grant')) {
        if (grant['accountId'] === sub) store.revokeGrant(String(grant['jti']));
      }
      for (const session of store.list('Session')) {
        if (session['accountId'] === sub) store.destroy('Session', String(session['jti']));
      }
    },
    endSessions,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function configuration(
  options: ProviderOptions,
  directory: UserDirectory,
  store: ProviderStore,
  jwks: { keys: object[] },
): Record<string, unknown> {
  const accessTtl = options.accessTokenTtlSeconds ?? 3600;
  const idTtl = options.idTokenTtlSeconds ?? 3600;
  const refreshTtl = options.refreshTokenTtlSeconds ?? 14 * 24 * 3600;
  const day = 24 * 3600;

  return {
    adapter: store.adapter,
    clients: options.clients.map((client) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    })),
    jwks,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
    },
    // Relying parties (authentik's outpost among them) read profile claims from the ID token;
    // the conforming default would release them only at userinfo for the code flow.
    conformIdTokenClaims: false,

    async findAccount(_ctx: unknown, sub: string) {
      if (!directory.isActive(sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          const current = directory.bySub(sub);
          if (!current) return { sub };
          return {
            sub,
            name: current.name,
            preferred_username: current.username,
            groups: [...current.groups],
            email: current.email,
            email_verified: true,
          };
        },
      };
    },

    loadExistingGrant: autoGrant,
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTtl,
      IdToken: idTtl,
      RefreshToken: refreshTtl,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: day,
      Grant: 14 * day,
    },

    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx: ProviderContext, form: string) {
          ctx.type = 'html';
          ctx.body = logoutPage(form);
        },
        async postLogoutSuccessSource(ctx: ProviderContext) {
          ctx.type = 'html';
          ctx.body = signedOutPage();
        },
      },
      userinfo: { enabled: true },
      revocation: { enabled: true, allowedPolicy: sameClientOnly },
      introspection: { enabled: true, allowedPolicy: async () => true },
      claimsParameter: { enabled: false },
    },
    clientBasedCORS: () => false,
    async renderError(ctx: ProviderContext, out: Record<string, unknown>) {
      ctx.type = 'html';
      ctx.body = errorPage(out);
    },

    // Since 9.10 oidc-provider refuses outgoing requests that reach special-use addresses;
    // this provider delivers back-channel logout to a Gatehouse on the same machine.
    fetch: (url: URL | string, init: RequestInit & { dispatcher?: unknown }) => {
      if (!LOOPBACK_HOST.test(new URL(url).hostname)) return fetch(url, init);
      const { dispatcher: _ssrfGuard, ...direct } = init;
      return fetch(url, direct);
    },
  };
}

/**
 * Every client of this provider is first-party, so consent is implied: the grant is created
 * (or extended) with whatever OpenID scopes and claims the request asks for.
 */
async function autoGrant(ctx: ProviderContext) {
  const { oidc } = ctx;
  const accountId = oidc.account?.accountId;
  const clientId = oidc.client?.clientId;
  if (!accountId || !clientId) return undefined;

  const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const grant =
    existing && existing.accountId === accountId
      ? existing
      : new oidc.provider.Grant({ accountId, clientId });

  const scopes = [...oidc.requestParamOIDCScopes];
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

async function sameClientOnly(
  _ctx: unknown,
  client: { clientId: string },
  token: { clientId?: string },
): Promise<boolean> {
  return token.clientId === client.clientId;
}

function countRequests(
  provider: Provider,
  counters: ProviderCounters,
  emit: (name: string, detail: unknown) => void,
): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'token') counters.tokenRequests += 1;
    if (route === 'userinfo') counters.userinfoRequests += 1;
  });

  provider.on('grant.success', (ctx: ProviderContext) => {
    const grantType = ctx.oidc.params?.['grant_type'];
    if (grantType === 'refresh_token') counters.refreshGrants += 1;
    emit('grant.success', { grantType, clientId: ctx.oidc.client?.clientId });
  });
  provider.on('backchannel.success', (_ctx, client: { clientId: string }, sub: string, sid) => {
    counters.backchannelLogouts += 1;
    emit('backchannel.success', { clientId: client.clientId, sub, sid });
  });
  provider.on('backchannel.error', (_ctx, error: Error, client: { clientId: string }, sub, sid) => {
    counters.backchannelLogoutErrors += 1;
    emit('backchannel.error', { clientId: client.clientId, sub, sid, error });
  });
  for (const name of ['grant.error', 'authorization.error', 'userinfo.error', 'server_error']) {
    provider.on(name, (ctx: ProviderContext, error: Error) => {
      emit(name, { route: ctx.oidc?.route, clientId: ctx.oidc?.client?.clientId, error });
    });
  }
  provider.on('end_session.success', (ctx: ProviderContext) => {
    emit('end_session.success', { clientId: ctx.oidc.client?.clientId });
  });
}
