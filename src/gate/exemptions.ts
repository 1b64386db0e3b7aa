/**
 * Exemptions the configuration declares: skip paths and, where allowed, CORS preflights. This is
 * the only module that can produce an `Exemption`, the basis of an allow without identity.
 * @module
 */
import type { Application } from '../server/application.ts';
import { canonicalPath } from './canonical-path.ts';
import type { OriginalRequest } from './original-request.ts';
import { isCorsPreflight } from './request-kind.ts';

declare const exemption: unique symbol;

export type Exemption = { readonly rule: string; readonly [exemption]: true };

export function findExemption(app: Application, request: OriginalRequest): Exemption | undefined {
  if (app.config.allow_preflight && isCorsPreflight(request.method, request.headers)) {
    return { rule: 'allow_preflight' } as Exemption;
  }
  if (!app.skip.length) return undefined;

  const canonical = canonicalPath(request.url.pathname);
  // A path that cannot be put in one canonical form is never exempt: it stays protected.
  if (!canonical.ok) return undefined;
  const index = app.skip.findIndex((pattern) => pattern.test(canonical.path));
  if (index < 0) return undefined;
  return { rule: `skip_path_regex[${index}] ${app.config.skip_path_regex[index]}` } as Exemption;
}
