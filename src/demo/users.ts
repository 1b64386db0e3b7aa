/**
 * The demo's people. Their passwords are printed by the demo and shown on the embedded
 * provider's login page, so they are fixed strings rather than secrets.
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';

export interface DemoUser {
  /** Stable subject identifier, the same on every start. */
  readonly sub: string;
  /** Sign-in name, released as `preferred_username`. */
  readonly username: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
  readonly password: string;
}

export const ALICE_PASSWORD = 'alice-password';
export const BOB_PASSWORD = 'bob-password';

export const ALICE: DemoUser = {
  sub: '5b0c1f3e-8a8e-4f59-9d1c-2a6f1d7b3c41',
  username: 'alice',
  name: 'Alice Example',
  email: 'alice@example.com',
  groups: ['admins', 'staff'],
  password: ALICE_PASSWORD,
};

export const BOB: DemoUser = {
  sub: 'c7e2a9d4-1b6f-4e3a-8f20-9d4b5e6a7c18',
  username: 'bob',
  name: 'Bob Example',
  email: 'bob@example.com',
  groups: ['staff'],
  password: BOB_PASSWORD,
};

export const DEMO_USERS: readonly DemoUser[] = [ALICE, BOB];

/** Finds a user by sign-in name or by `sub`. */
export function findDemoUser(
  usernameOrSub: string,
  users: readonly DemoUser[] = DEMO_USERS,
): DemoUser | undefined {
  return users.find((user) => user.username === usernameOrSub || user.sub === usernameOrSub);
}

/** Compares in constant time so the login form does not leak how much of a password matched. */
export function passwordMatches(user: DemoUser, password: string): boolean {
  const expected = Buffer.from(user.password);
  const given = Buffer.from(password);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * The users a provider knows, as they are now: tests change groups and disable users while
 * the provider runs, so each provider keeps its own copies.
 */
export class UserDirectory {
  readonly #users: Map<string, DemoUser>;
  readonly #disabled = new Set<string>();

  constructor(users: readonly DemoUser[] = DEMO_USERS) {
    this.#users = new Map(users.map((user) => [user.sub, { ...user }]));
  }

  all(): DemoUser[] {
    return [...this.#users.values()];
  }

  bySub(sub: string): DemoUser | undefined {
    return this.#users.get(sub);
  }

  byUsername(username: string): DemoUser | undefined {
    return this.all().find((user) => user.username === username);
  }

  isActive(sub: string): boolean {
    return this.#users.has(sub) && !this.#disabled.has(sub);
  }

  update(sub: string, change: Partial<Omit<DemoUser, 'sub'>>): void {
    const user = this.#users.get(sub);
    if (!user) throw new Error(`unknown user ${sub}`);
    this.#users.set(sub, { ...user, ...change });
  }

  disable(sub: string): void {
    this.#disabled.add(sub);
  }
}
