import pino, { type Logger } from 'pino';

/**
 * Paths that may hold a credential anywhere in a log line. Redaction is configured here, once,
 * so a module that logs a request or an error cannot leak a cookie or token by accident.
 */
const REDACTED = [
  'cookie',
  'authorization',
  'secret',
  'client_secret',
  'state',
  'idToken',
  'accessToken',
  'refreshToken',
  'id_token',
  'access_token',
  'refresh_token',
  'token',
  '*.cookie',
  '*.authorization',
  '*.secret',
  '*.client_secret',
  '*.idToken',
  '*.accessToken',
  '*.refreshToken',
  '*.id_token',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  'query.code',
  'params.code',
  'headers["set-cookie"]',
  '*.headers.cookie',
  '*.headers.authorization',
  '*.headers["set-cookie"]',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'gatehouse' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
