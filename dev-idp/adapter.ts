/**
 * In-memory storage for oidc-provider models. One `MemoryStore` is shared by every Provider
 * instance the dev IdP builds, so sessions, interactions, codes, grants, device codes and
 * refresh tokens survive a signing-key rotation (which replaces the Provider).
 */
import type { Adapter, AdapterPayload } from "oidc-provider";

interface Entry {
  payload: AdapterPayload;
  /** Epoch milliseconds; undefined = never expires. */
  expiresAt: number | undefined;
}

export class MemoryStore {
  readonly #entries = new Map<string, Entry>();
  /** grantId -> storage keys of the tokens issued under that grant. */
  readonly #byGrant = new Map<string, Set<string>>();
  /** model-scoped user code / uid -> storage key. */
  readonly #lookup = new Map<string, string>();

  /** Adapter factory to pass as oidc-provider's `adapter` option. */
  readonly adapterFactory = (model: string): Adapter => new StoreAdapter(model, this);

  set(key: string, payload: AdapterPayload, expiresInSeconds: number | undefined): void {
    const expiresAt = expiresInSeconds ? Date.now() + expiresInSeconds * 1000 : undefined;
    this.#entries.set(key, { payload: structuredClone(payload), expiresAt });
    if (payload.grantId) {
      const keys = this.#byGrant.get(payload.grantId) ?? new Set<string>();
      keys.add(key);
      this.#byGrant.set(payload.grantId, keys);
    }
  }

  get(key: string): AdapterPayload | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    // A copy, so a model mutated in one request never leaks into another before it is saved.
    return structuredClone(entry.payload);
  }

  update(key: string, change: (payload: AdapterPayload) => void): void {
    const entry = this.#entries.get(key);
    if (entry) change(entry.payload);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  index(lookupKey: string, key: string): void {
    this.#lookup.set(lookupKey, key);
  }

  resolve(lookupKey: string): string | undefined {
    return this.#lookup.get(lookupKey);
  }

  revokeGrant(grantId: string): void {
    for (const key of this.#byGrant.get(grantId) ?? []) {
      this.#entries.delete(key);
    }
    this.#byGrant.delete(grantId);
  }
}

class StoreAdapter implements Adapter {
  readonly #model: string;
  readonly #store: MemoryStore;

  constructor(model: string, store: MemoryStore) {
    this.#model = model;
    this.#store = store;
  }

  #key(id: string): string {
    return `${this.#model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = this.#key(id);
    this.#store.set(key, payload, expiresIn);
    if (payload.userCode) this.#store.index(`${this.#model}:userCode:${payload.userCode}`, key);
    if (payload.uid) this.#store.index(`${this.#model}:uid:${payload.uid}`, key);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#store.get(this.#key(id));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const key = this.#store.resolve(`${this.#model}:userCode:${userCode}`);
    return key ? this.#store.get(key) : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const key = this.#store.resolve(`${this.#model}:uid:${uid}`);
    return key ? this.#store.get(key) : undefined;
  }

  async consume(id: string): Promise<void> {
    this.#store.update(this.#key(id), (payload) => {
      payload.consumed = Math.floor(Date.now() / 1000);
    });
  }

  async destroy(id: string): Promise<void> {
    this.#store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.#store.revokeGrant(grantId);
  }
}
