/**
 * A JSON Web Key Set that refreshes itself: loaded on first use, reloaded
 * when a token names an unknown `kid` and when older than its maximum age.
 * Unlike jose's `createRemoteJWKSet`, a failed reload keeps the keys it has:
 * an IdP or peer that is briefly down does not turn every valid token into
 * an error. Used for the IdP's JWKS, the broker's own keys and each trusted
 * peer's keys.
 *
 * Freshness: keys are refreshed in the background once older than 90% of
 * the maximum age; past the maximum age they are not used before one reload
 * has been tried, unless the last load failed (then the old keys stay in use
 * and the reload is retried in the background). So while the JWKS endpoint
 * answers, no verification uses keys fetched longer than the maximum age
 * before it began, and a withdrawn key stops verifying within that age.
 *
 * Rotation: an unknown `kid` triggers a load (one at a time) unless the last
 * one began less than `MIN_LOAD_INTERVAL_MS` ago: a newly published key is
 * found within about a second of its first use, however many made-up `kid`s
 * arrive meanwhile, and the endpoint sees at most one load per interval.
 * After failed loads the interval doubles, up to the cooldown.
 */
import {
  createLocalJWKSet,
  importJWK,
  type JSONWebKeySet,
  type JWK,
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

/**
 * Keys of a loaded JWKS that jose cannot verify with (an RSA key under 2048
 * bits, a malformed or private key). They are left out of the key set; this
 * is what `onError` hears when no `onWarning` is given.
 */
export class UnusableKeysIgnored extends Error {
  /** For `describeError`: how many keys, never their contents. */
  readonly code: string;

  constructor(ignored: number, total: number) {
    super("unusable keys ignored");
    this.name = "UnusableKeysIgnored";
    this.code = `${ignored} of ${total} keys`;
  }
}

export interface KeySetTiming {
  /**
   * Longest wait between loads after failed ones (the wait doubles from
   * `MIN_LOAD_INTERVAL_MS` up to this); a cooldown below that interval
   * shortens the interval itself.
   */
  cooldownMs: number;
  /** Age after which keys are not used before a reload has been tried. */
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

/** Each key handed out by a key set: until when the JWKS copy it came from is trusted. */
const keyTrustedUntil = new WeakMap<object, number>();
/** Verified claims: until when the key that verified them is trusted. */
const claimsTrustedUntil = new WeakMap<object, number>();

/** Records that `claims` were verified with `key` (a key some `getKey` returned). */
export function noteVerifiedWith(claims: object, key: unknown): void {
  const until = typeof key === "object" && key !== null ? keyTrustedUntil.get(key) : undefined;
  if (until !== undefined) claimsTrustedUntil.set(claims, until);
}

/**
 * Records that `claims` may be trusted until `untilMs` at most (an
 * introspection answer's age bound, see introspection.ts), so the token
 * cache keeps them no longer.
 */
export function noteTrustedUntil(claims: object, untilMs: number): void {
  claimsTrustedUntil.set(claims, Math.min(untilMs, keysTrustedUntil(claims)));
}

/**
 * Until when (`Date.now()` milliseconds) the key that verified `claims`
 * counts as current: its key set's load start plus the maximum age. Infinite
 * for claims verified with keys of no `RefreshingKeySet`.
 */
export function keysTrustedUntil(claims: object): number {
  return claimsTrustedUntil.get(claims) ?? Number.POSITIVE_INFINITY;
}

/** After a failed first load, callers fail fast for this long. */
const FIRST_LOAD_RETRY_MS = 1000;
/** Shortest time between two loads: bounds the load rate under a flood of unknown `kid`s. */
export const MIN_LOAD_INTERVAL_MS = 1000;
/** Background refresh starts at this fraction of the maximum age, so busy sets never wait. */
const REFRESH_AHEAD = 0.9;

type KeyHeader = Parameters<JWTVerifyGetKey>[0];
type KeyToken = Parameters<JWTVerifyGetKey>[1];

interface LoadedKeys {
  resolve: ReturnType<typeof createLocalJWKSet>;
  /** When the load that produced these keys began, plus the maximum age. */
  trustedUntil: number;
  /**
   * The keys `resolve` picked, by `alg` and then `kid`: jose's selection
   * reads nothing else of a compact JWS's header, so the same pair picks the
   * same key from the same JWKS (see `keyNow`).
   */
  picked: Map<string, Map<string | undefined, CryptoKey>>;
}

function loadedKeys(jwks: JSONWebKeySet, trustedUntil: number): LoadedKeys {
  return { resolve: createLocalJWKSet(jwks), trustedUntil, picked: new Map() };
}

export class RefreshingKeySet {
  private keys: LoadedKeys | undefined;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private inFlight: Promise<void> | undefined;
  /** The unusable-key count last reported, so that a JWKS that stays broken is logged once. */
  private reportedUnusable = 0;

  constructor(
    private readonly load: () => Promise<JSONWebKeySet>,
    private readonly timing: KeySetTiming,
    private readonly onError: (error: unknown) => void = () => {},
    /** Hears about unusable keys left out of a loaded JWKS; default: `onError`. */
    private readonly onWarning?: (message: string) => void,
  ) {}

  /** Starts from known keys (e.g. persisted ones) that still count as stale. */
  seed(jwks: JSONWebKeySet): void {
    // Not checked for usability: a key jose refuses still only costs a 401 (see verifyJwt).
    this.keys ??= loadedKeys(jwks, Number.NEGATIVE_INFINITY);
  }

  /** The keys currently held, if any. */
  get jwks(): JSONWebKeySet | undefined {
    return this.keys?.resolve.jwks();
  }

  /** A jose key resolver for `jwtVerify`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (this.keys === undefined) await this.firstLoad();
    else await this.keepFresh();
    try {
      return await this.lookUp(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !this.mayLoad()) throw error;
      // A reload failure here keeps the old keys: the kid stays unknown (401).
      await this.reload().catch(() => {});
      return this.lookUp(header, token);
    }
  };

  /** Loads now (single flight); rejects when the load fails. */
  reload(): Promise<void> {
    this.inFlight ??= this.runLoad().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Without an await, the key `getKey` would give a compact JWS whose header
   * has this `alg` and `kid`, if `getKey` has picked it from the keys held
   * now and they need no reload first; else undefined (then ask `getKey`).
   * For the synchronous fast path of the guards (fast-verify.ts).
   */
  keyNow(alg: string, kid: string | undefined): CryptoKey | undefined {
    const keys = this.keys;
    const key = keys?.picked.get(alg)?.get(kid);
    if (key === undefined || this.mustReloadFirst()) return undefined;
    return key;
  }

  /** The key for a header from the keys held now, noted with how long those keys are trusted. */
  private async lookUp(header: KeyHeader, token: KeyToken) {
    const keys = this.keys as LoadedKeys;
    const key = await keys.resolve(header, token);
    keyTrustedUntil.set(key, keys.trustedUntil);
    const { alg, kid } = header;
    // Only what jose chose from alg and kid alone: an unprotected header (token.header) joins in too.
    if (
      token?.header === undefined &&
      typeof alg === "string" &&
      (kid === undefined || typeof kid === "string") &&
      key instanceof CryptoKey
    ) {
      const byKid = keys.picked.get(alg) ?? new Map<string | undefined, CryptoKey>();
      keys.picked.set(alg, byKid.set(kid, key));
    }
    return key;
  }

  /** Whether a load may start now (or one is under way to join). */
  private mayLoad(): boolean {
    return this.inFlight !== undefined || Date.now() - this.attemptedAt >= this.loadIntervalMs();
  }

  /** The minimum interval, doubled per failed load since the last success, up to the cooldown. */
  private loadIntervalMs(): number {
    const interval = Math.min(this.timing.cooldownMs, MIN_LOAD_INTERVAL_MS);
    if (this.failures === 0) return interval;
    const backoff = interval * 2 ** Math.min(this.failures - 1, 30);
    return Math.min(backoff, Math.max(this.timing.cooldownMs, interval));
  }

  private async keepFresh(): Promise<void> {
    if (this.mustReloadFirst()) await this.reload().catch(() => {});
  }

  /**
   * True when the keys are past the maximum age and a reload must be tried
   * before they are used, unless the endpoint is failing; else starts the
   * background refresh when it is due. No flood can force reloads: after a
   * success the keys are fresh for the maximum age.
   */
  private mustReloadFirst(): boolean {
    const { trustedUntil } = this.keys as LoadedKeys;
    const now = Date.now();
    if (now > trustedUntil && this.failures === 0) return true;
    const refreshAt = trustedUntil - (1 - REFRESH_AHEAD) * this.timing.maxAgeMs;
    if (now >= refreshAt && this.mayLoad()) this.reload().catch(() => {});
    return false;
  }

  private async firstLoad(): Promise<void> {
    if (this.inFlight === undefined && Date.now() - this.attemptedAt < FIRST_LOAD_RETRY_MS) {
      throw new KeysUnavailable();
    }
    try {
      await this.reload();
    } catch (error) {
      if (this.keys === undefined) throw new KeysUnavailable({ cause: error });
    }
  }

  private async runLoad(): Promise<void> {
    const startedAt = Date.now();
    this.attemptedAt = startedAt;
    try {
      const fetched = await this.load();
      const jwks = await usableKeys(fetched);
      this.reportUnusable(fetched.keys.length - jwks.keys.length, fetched.keys.length);
      const previous = this.keys?.resolve.jwks();
      this.keys = loadedKeys(jwks, startedAt + this.timing.maxAgeMs);
      this.failures = 0;
      if (previous !== undefined && dropsAKey(previous, jwks)) removalEpoch += 1;
    } catch (error) {
      this.failures += 1;
      this.onError(error);
      throw error;
    }
  }

  /** One log line when the number of unusable keys changes, not one per load. */
  private reportUnusable(ignored: number, total: number): void {
    if (ignored === this.reportedUnusable) return;
    this.reportedUnusable = ignored;
    if (ignored === 0) return;
    const notice = new UnusableKeysIgnored(ignored, total);
    if (this.onWarning === undefined) this.onError(notice);
    else this.onWarning(`Ignoring ${notice.code} of the JWKS: jose cannot verify with them.`);
  }
}

/** Whether a key of `before` is missing from `after` (keys compared whole, not by `kid`). */
function dropsAKey(before: JSONWebKeySet, after: JSONWebKeySet): boolean {
  const kept = new Set(after.keys.map((key) => JSON.stringify(key)));
  return before.keys.some((key) => !kept.has(JSON.stringify(key)));
}

/** The JWS algorithms jose verifies asymmetric signatures with (RFC 7518 §3.1, RFC 8037). */
const SIGNATURE_ALGS = new Set(
  ["RS", "PS", "ES"].flatMap((family) => [256, 384, 512].map((bits) => `${family}${bits}`)),
)
  .add("EdDSA")
  .add("Ed25519");

/** The algorithm jose would pick a key without `alg` for, by its curve (RFC 7518 §3.4). */
const ALG_BY_CURVE = new Map([
  ["P-256", "ES256"],
  ["P-384", "ES384"],
  ["P-521", "ES512"],
  ["Ed25519", "Ed25519"],
]);

/**
 * The keys of a JWKS that jose can verify with. A key jose could pick for a
 * signature (`use` absent or `sig`) is imported by jose for that algorithm
 * and, for RSA, must have the 2048 bits jose demands at verification time
 * (RFC 7518 §3.3); a key that fails would make every token naming its `kid`
 * an error instead of a 401. Keys jose never picks for a signature
 * (encryption keys, curves it does not verify with) are kept as they are.
 */
async function usableKeys(jwks: JSONWebKeySet): Promise<JSONWebKeySet> {
  const checked = await Promise.all(
    jwks.keys.map(async (key) => ((await isUnusable(key)) ? undefined : key)),
  );
  return { ...jwks, keys: checked.filter((key) => key !== undefined) };
}

async function isUnusable(key: JWK): Promise<boolean> {
  // jose refuses a whole JWKS with a member that is no plain object.
  if (typeof key !== "object" || key === null || Array.isArray(key)) return true;
  if (!signatureCandidate(key)) return false;
  const alg = key.alg ?? (key.kty === "RSA" ? "RS256" : ALG_BY_CURVE.get(String(key.crv)));
  if (alg === undefined || !SIGNATURE_ALGS.has(alg)) return false;
  try {
    const imported = await importJWK(key, alg);
    if (!(imported instanceof CryptoKey) || imported.type !== "public") return true;
    const { modulusLength } = imported.algorithm as Partial<RsaHashedKeyAlgorithm>;
    return key.kty === "RSA" && !(typeof modulusLength === "number" && modulusLength >= 2048);
  } catch {
    return true;
  }
}

/** Whether jose's key selection could pick this key to verify a signature (RFC 7517 §4.2, §4.3). */
function signatureCandidate(key: JWK): boolean {
  if (key.use !== undefined && key.use !== "sig") return false;
  if (
    key.key_ops !== undefined &&
    !(Array.isArray(key.key_ops) && key.key_ops.includes("verify"))
  ) {
    return false;
  }
  return key.ext === undefined || typeof key.ext === "boolean";
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
