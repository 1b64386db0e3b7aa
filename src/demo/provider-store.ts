/**
 * In-memory storage for the embedded provider. oidc-provider's own memory adapter keeps at
 * most 1000 entries, so a long benchmark or test run would see sessions and grants evicted;
 * this one keeps everything until it expires and is owned by one provider instance.
 *
 * @module
 */

export type ProviderPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

interface Entry {
  payload: ProviderPayload;
  expiresAt: number;
}

/** The adapter contract oidc-provider calls for each model (Session, Grant, AccessToken...). */
export interface ProviderAdapter {
  upsert(id: string, payload: ProviderPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<ProviderPayload | undefined>;
  findByUid(uid: string): Promise<ProviderPayload | undefined>;
  findByUserCode(userCode: string): Promise<ProviderPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export class ProviderStore {
  readonly #entries = new Map<string, Entry>();
  readonly #byGrant = new Map<string, Set<string>>();
  readonly #sessionByUid = new Map<string, string>();
  readonly #byUserCode = new Map<string, string>();

  /** The factory handed to oidc-provider's `adapter` option. */
  readonly adapter = (model: string): ProviderAdapter => this.#adapterFor(model);

  /** Every live payload of one model, e.g. to find a user's sessions. */
  list(model: string): ProviderPayload[] {
    const prefix = `${model}:`;
    const found: ProviderPayload[] = [];
    for (const key of this.#entries.keys()) {
      if (!key.startsWith(prefix)) continue;
      const payload = this.#get(key);
      if (payload) found.push(payload);
    }
    return found;
  }

  /** Removes every token and code issued under a grant, and the grant itself. */
  revokeGrant(grantId: string): void {
    for (const key of this.#byGrant.get(grantId) ?? []) this.#remove(key);
    this.#byGrant.delete(grantId);
    this.#remove(`Grant:${grantId}`);
  }

  destroy(model: string, id: string): void {
    this.#remove(`${model}:${id}`);
  }

  #get(key: string): ProviderPayload | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#remove(key);
      return undefined;
    }
    return entry.payload;
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const { grantId, uid, userCode } = entry.payload;
    if (grantId) this.#byGrant.get(grantId)?.delete(key);
    if (uid && this.#sessionByUid.get(uid) === key) this.#sessionByUid.delete(uid);
    if (userCode && this.#byUserCode.get(userCode) === key) this.#byUserCode.delete(userCode);
  }

  #adapterFor(model: string): ProviderAdapter {
    const keyOf = (id: string): string => `${model}:${id}`;

    return {
      upsert: async (id, payload, expiresIn) => {
        const key = keyOf(id);
        this.#remove(key);
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        this.#entries.set(key, { payload, expiresAt });

        if (payload.grantId) {
          let members = this.#byGrant.get(payload.grantId);
          if (!members) this.#byGrant.set(payload.grantId, (members = new Set()));
          members.add(key);
        }
        if (model === 'Session' && payload.uid) this.#sessionByUid.set(payload.uid, key);
        if (payload.userCode) this.#byUserCode.set(payload.userCode, key);
      },

      find: async (id) => this.#get(keyOf(id)),

      findByUid: async (uid) => {
        const key = this.#sessionByUid.get(uid);
        return key === undefined ? undefined : this.#get(key);
      },

      findByUserCode: async (userCode) => {
        const key = this.#byUserCode.get(userCode);
        return key === undefined ? undefined : this.#get(key);
      },

      consume: async (id) => {
        const payload = this.#get(keyOf(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },

      destroy: async (id) => this.#remove(keyOf(id)),

      revokeByGrantId: async (grantId) => {
        for (const key of this.#byGrant.get(grantId) ?? []) this.#remove(key);
        this.#byGrant.delete(grantId);
      },
    };
  }
}
