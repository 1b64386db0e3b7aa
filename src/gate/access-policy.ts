/**
 * Who may use an application, and per path prefix and method, who may use that part of it. The
 * policy is compiled once at load (regexes included); evaluating it reads only the claims of the
 * session or credential and the canonical path.
 * @module
 */
import type { ApplicationConfig } from '../config/schema.ts';
import type { Claims } from '../session/record.ts';
import { canonicalPath } from './canonical-path.ts';

type AccessConfig = ApplicationConfig['access'];
type ListsConfig = Omit<AccessConfig, 'rules'>;
type ClaimValue = string | number | boolean;

type ClaimTest = { claim: string; test: (value: unknown) => boolean };

type Admission = {
  /** Names the lists in logs: `access` or `access.rules[2] (/admin, POST)`. */
  label: string;
  open: boolean;
  groups: ReadonlySet<string>;
  emails: ReadonlySet<string>;
  domains: ReadonlySet<string>;
  claims: readonly ClaimTest[];
};

type Rule = Admission & { prefix: string; methods: ReadonlySet<string> };

export type AccessPolicy = { readonly app: Admission; readonly rules: readonly Rule[] };

export function compileAccess(access: AccessConfig): AccessPolicy {
  return {
    app: admission('access', access),
    rules: access.rules.map((rule, index) => {
      const canonical = canonicalPath(rule.path_prefix);
      const prefix = canonical.ok ? canonical.rulePath : rule.path_prefix;
      const methods = rule.methods.length ? `, ${rule.methods.join(' ')}` : '';
      return {
        ...admission(`access.rules[${index}] (${prefix}${methods})`, rule),
        prefix,
        // HEAD runs the GET handler in most frameworks: a rule about GET covers it too.
        methods: new Set(rule.methods.includes('GET') ? [...rule.methods, 'HEAD'] : rule.methods),
      };
    }),
  };
}

/**
 * The label of the lists that denied a signed-in person, or undefined when they are admitted.
 * `path` is the canonical rule path; the rule with the longest matching prefix (the first of
 * equals) decides, and the application-level lists decide where no rule matches.
 */
export function deniedBy(
  policy: AccessPolicy,
  claims: Claims,
  request: { path: string; method: string },
): string | undefined {
  const lists = ruleFor(policy, request) ?? policy.app;
  return admits(lists, claims) ? undefined : `${lists.label}: no group, email or claim matches`;
}

function ruleFor(policy: AccessPolicy, request: { path: string; method: string }) {
  let best: Rule | undefined;
  for (const rule of policy.rules) {
    if (rule.methods.size && !rule.methods.has(request.method)) continue;
    if (!underPrefix(request.path, rule.prefix)) continue;
    if (!best || rule.prefix.length > best.prefix.length) best = rule;
  }
  return best;
}

/** `/admin` covers `/admin` and `/admin/...`, not `/administrator`; `/api/` covers `/api/...`. */
function underPrefix(path: string, prefix: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix) || path === prefix.slice(0, -1);
  return path === prefix || path.startsWith(`${prefix}/`);
}

function admits(lists: Admission, claims: Claims): boolean {
  if (lists.open) return true;
  const groups = Array.isArray(claims.groups) ? claims.groups : [];
  if (groups.some((group) => typeof group === 'string' && lists.groups.has(group))) return true;

  const email = usableEmail(claims);
  if (email && lists.emails.has(email.address)) return true;
  if (email && lists.domains.has(email.domain)) return true;

  return lists.claims.some(({ claim, test }) => {
    const value = claims[claim];
    return Array.isArray(value) ? value.some(test) : test(value);
  });
}

/**
 * The email claim when it is one address: exactly one `@`, a non-empty local part and domain,
 * and not marked unverified by the provider. `a@b@example.com` or `alice@evil.example.com`
 * must not pass as an address in `example.com`.
 */
function usableEmail(claims: Claims): { address: string; domain: string } | undefined {
  if (typeof claims.email !== 'string' || claims.email_verified === false) return undefined;
  const address = claims.email.trim().toLowerCase();
  const parts = address.split('@');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { address, domain: parts[1].replace(/\.$/, '') };
}

function admission(label: string, lists: ListsConfig): Admission {
  return {
    label,
    open:
      !lists.groups.length &&
      !lists.emails.length &&
      !lists.email_domains.length &&
      !lists.claims.length,
    groups: new Set(lists.groups),
    emails: new Set(lists.emails.map((email) => email.trim().toLowerCase())),
    domains: new Set(
      lists.email_domains.map((domain) =>
        domain
          .trim()
          .toLowerCase()
          .replace(/^@|\.$/g, ''),
      ),
    ),
    claims: lists.claims.map(claimTest),
  };
}

function claimTest(matcher: ListsConfig['claims'][number]): ClaimTest {
  const { claim } = matcher;
  if (matcher.matches !== undefined) {
    const pattern = new RegExp(matcher.matches);
    return { claim, test: (value) => typeof value === 'string' && pattern.test(value) };
  }
  const allowed: ClaimValue[] =
    matcher.in ?? (matcher.equals === undefined ? [] : [matcher.equals]);
  return { claim, test: (value) => allowed.some((candidate) => candidate === value) };
}
