/**
 * A JSON Web Key Set that refreshes itself: loaded on first use, reloaded
 * when a token names an unknown `kid` (at most once per cooldown) and in the
 * background when older than its maximum age. Unlike jose's
 * `createRemoteJWKSet`, a failed reload keeps the keys it has: an IdP or peer
 * that is briefly down does not turn every valid token into an error. Used
 * for the IdP's JWKS, the broker's own keys and each trusted peer's keys.
 */
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  errors as joseErrors,
} from "jose";

/** No keys could be loaded at all: the caller answers 503, not 401. */
export class KeysUnavailable extends Error {
  constructor(options?: { cause?: unknown }) {
    super("keys unavailable", options);
    this.name = "KeysUnavailable";
  }
}

export interface KeySetTiming {
  /** Minimum time between two loads triggered by unknown `kid`s. */
  cooldownMs: number;
  /** Age after which keys are reloaded in the background. */
  maxAgeMs: number;
}

let removalEpoch = 0;

/**
 * Counts key removals: it goes up whenever any key set of this process
 * reloads and a key it held is gone. The verified-token cache voids every
 * entry verified before the latest removal, so a withdrawn key stops
 * admitting cached tokens as soon as a key set notices it.
 */
export function keyRemovalEpoch(): number {
  return removalEpoch;
}

/** After a failed first load, callers fail fast for this long. */
const FIRST_LOAD_RETRY_MS = 1000;

export class RefreshingKeySet {
  private local: ReturnType<typeof createLocalJWKSet> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly load: () => Promise<JSONWebKeySet>,
    private readonly timing: KeySetTiming,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Starts from known keys (e.g. persisted ones) that still count as stale. */
  seed(jwks: JSONWebKeySet): void {
    if (this.local === undefined) this.local = createLocalJWKSet(jwks);
  }

  /** The keys currently held, if any. */
  get jwks(): JSONWebKeySet | undefined {
    return this.local?.jwks();
  }

  /** A jose key resolver for `jwtVerify`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = Date.now();
    if (this.local === undefined) await this.firstLoad(now);
    else if (now - this.loadedAt > this.timing.maxAgeMs) this.reload().catch(() => {});
    const local = this.local as ReturnType<typeof createLocalJWKSet>;
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      if (now - this.attemptedAt < this.timing.cooldownMs) throw error;
      // A reload failure here keeps the old keys: the kid stays unknown (401).
      await this.reload().catch(() => {});
      return (this.local as ReturnType<typeof createLocalJWKSet>)(header, token);
    }
  };

  /** Loads now (single flight); rejects when the load fails. */
  reload(): Promise<void> {
    this.inFlight ??= this.runLoad().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async firstLoad(now: number): Promise<void> {
    if (this.inFlight === undefined && now - this.attemptedAt < FIRST_LOAD_RETRY_MS) {
      throw new KeysUnavailable();
    }
    try {
      await this.reload();
    } catch (error) {
      if (this.local === undefined) throw new KeysUnavailable({ cause: error });
    }
  }

  private async runLoad(): Promise<void> {
    this.attemptedAt = Date.now();
    try {
      const jwks = await this.load();
      const previous = this.local?.jwks();
      this.local = createLocalJWKSet(jwks);
      if (previous !== undefined && dropsAKey(previous, jwks)) removalEpoch += 1;
      this.loadedAt = Date.now();
    } catch (error) {
      this.onError(error);
      throw error;
    }
  }
}

/** Whether a key of `before` is missing from `after` (keys compared whole, not by `kid`). */
function dropsAKey(before: JSONWebKeySet, after: JSONWebKeySet): boolean {
  const kept = new Set(after.keys.map((key) => JSON.stringify(key)));
  return before.keys.some((key) => !kept.has(JSON.stringify(key)));
}

/** Fetches a JWKS document with a timeout, refusing anything that is not one. */
export async function fetchJwks(url: URL, timeoutMs: number): Promise<JSONWebKeySet> {
  const response = await fetch(url, {
    headers: { accept: "application/jwk-set+json, application/json" },
    redirect: "error",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) throw new Error(`JWKS answered HTTP ${response.status}`);
  const jwks = (await response.json()) as JSONWebKeySet;
  if (!Array.isArray(jwks?.keys)) throw new Error("not a JWKS document");
  return jwks;
}
