import type { Application } from '../server/application.ts';
import type { Claims } from '../session/record.ts';

/** The rule that denied a signed-in person, or undefined when the application admits them. */
export function deniedBy(app: Application, claims: Claims): string | undefined {
  const { groups, emails, email_domains } = app.config.access;
  if (!groups.length && !emails.length && !email_domains.length) return undefined;

  const userGroups = Array.isArray(claims.groups) ? claims.groups : [];
  if (groups.some((group) => userGroups.includes(group))) return undefined;

  const email = typeof claims.email === 'string' ? claims.email : '';
  if (emails.some((allowed) => allowed.toLowerCase() === email.toLowerCase())) return undefined;

  const parts = email.split('@');
  const domain = parts.length === 2 ? parts[1]!.toLowerCase() : undefined;
  if (domain && email_domains.some((allowed) => allowed.toLowerCase() === domain)) return undefined;

  return 'access: user is in none of the allowed groups, emails or email domains';
}
