/**
 * Exemptions the configuration declares: skip paths and, where allowed, CORS preflights. This is
 * the only module that can produce an `Exemption`, the basis of an allow without identity.
 * @module
 */
import type { Application } from '../server/application.ts';
import type { CanonicalPath } from './canonical-path.ts';
import type { OriginalRequest } from './original-request.ts';
import { isCorsPreflight } from './request-kind.ts';

declare const exemption: unique symbol;

export type Exemption = { readonly rule: string; readonly [exemption]: true };

/** `path` is the request's canonical path; skip rules never see the query or a fragment. */
export function findExemption(
  app: Application,
  request: OriginalRequest,
  path: Extract<CanonicalPath, { ok: true }>,
): Exemption | undefined {
  if (app.config.allow_preflight && isCorsPreflight(request.method, request.headers)) {
    return { rule: 'allow_preflight' } as Exemption;
  }
  // A path servers read in more than one way is never exempt: it stays protected.
  if (!app.skip.length || !path.exemptable) return undefined;

  const index = app.skip.findIndex((pattern) => pattern.test(path.path));
  if (index < 0) return undefined;
  return { rule: `skip_path_regex[${index}] ${app.config.skip_path_regex[index]}` } as Exemption;
}
