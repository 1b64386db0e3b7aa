/**
 * Gatehouse's coded errors. Every code maps once to the HTTP status a request failing with it gets,
 * so a caller can `switch` on `code` and never has to guess a status.
 * @module
 */

export const errorStatus = {
  GATEHOUSE_ERR_CONFIG: 500,
  GATEHOUSE_ERR_STORE_UNAVAILABLE: 503,
  GATEHOUSE_ERR_PROVIDER_UNAVAILABLE: 503,
  GATEHOUSE_ERR_BAD_FORWARDED_REQUEST: 400,
  GATEHOUSE_ERR_UNTRUSTED_FORWARDER: 400,
  GATEHOUSE_ERR_LOGIN_FAILED: 400,
  GATEHOUSE_ERR_UPSTREAM: 502,
  GATEHOUSE_ERR_UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class GatehouseError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatehouseError';
    this.code = code;
  }

  get status(): number {
    return errorStatus[this.code];
  }
}

export class StoreUnavailableError extends GatehouseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GATEHOUSE_ERR_STORE_UNAVAILABLE', message, options);
    this.name = 'StoreUnavailableError';
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof GatehouseError && error.code === 'GATEHOUSE_ERR_STORE_UNAVAILABLE';
}
