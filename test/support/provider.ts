/**
 * The in-process OpenID Provider for tests. Start it after choosing the relying party's
 * port: clients, with their redirect URIs, are fixed when the provider starts.
 *
 * @example
 * ```ts
 * const op = await startTestProvider([testClient(`http://127.0.0.1:${port}/callback`)]);
 * t.after(() => op.close());
 * ```
 *
 * @module
 */
import { startProvider } from '../../src/demo/provider.ts';
import type { ProviderClient, ProviderOptions, RunningProvider } from '../../src/demo/provider.ts';

export type { ProviderClient, RunningProvider };

export const TEST_CLIENT_ID = 'gatehouse-test';
export const TEST_CLIENT_SECRET = 'gatehouse-test-secret-0123456789abcdef';

export function startTestProvider(
  clients: ProviderClient[],
  options: Omit<ProviderOptions, 'clients'> = {},
): Promise<RunningProvider> {
  return startProvider({ ...options, clients });
}

/** A confidential client with the test id and secret, for one redirect URI. */
export function testClient(
  redirectUri: string,
  overrides: Partial<ProviderClient> = {},
): ProviderClient {
  return {
    client_id: TEST_CLIENT_ID,
    client_secret: TEST_CLIENT_SECRET,
    redirect_uris: [redirectUri],
    ...overrides,
  };
}
