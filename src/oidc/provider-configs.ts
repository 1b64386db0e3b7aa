/**
 * One openid-client Configuration per application, from discovery. Discovery runs on first use
 * and again after a failure, so a provider that was down at start-up does not need a restart.
 * @module
 */
import * as client from 'openid-client';
import { isLoopbackHost } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
import type { Application } from '../server/application.ts';

export class ProviderConfigs {
  readonly #leewaySeconds: number;
  readonly #timeoutSeconds: number;
  readonly #pending = new Map<string, Promise<client.Configuration>>();

  constructor(options: { clockLeewayMs: number; timeoutMs?: number }) {
    this.#leewaySeconds = Math.round(options.clockLeewayMs / 1000);
    this.#timeoutSeconds = Math.ceil((options.timeoutMs ?? 5000) / 1000);
  }

  get(app: Application): Promise<client.Configuration> {
    const existing = this.#pending.get(app.name);
    if (existing) return existing;
    const pending = this.#discover(app).catch((error: unknown) => {
      this.#pending.delete(app.name);
      throw new GatehouseError(
        'GATEHOUSE_ERR_PROVIDER_UNAVAILABLE',
        `discovery of ${app.config.oidc.issuer} failed: ${(error as Error).message}`,
        { cause: error },
      );
    });
    this.#pending.set(app.name, pending);
    return pending;
  }

  async #discover(app: Application): Promise<client.Configuration> {
    const { issuer, client_id, client_secret } = app.config.oidc;
    const url = new URL(issuer);
    // http:// issuers pass config validation only on loopback (tests and the demo).
    const insecure = url.protocol === 'http:' && isLoopbackHost(url.hostname);
    return client.discovery(
      url,
      client_id,
      { client_secret, [client.clockTolerance]: this.#leewaySeconds },
      client.ClientSecretBasic(client_secret),
      { execute: insecure ? [client.allowInsecureRequests] : [], timeout: this.#timeoutSeconds },
    );
  }
}
