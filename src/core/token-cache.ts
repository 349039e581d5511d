/**
 * The verified-token cache of the guards: a request whose bearer token was
 * verified moments ago is not verified again.
 *
 * - Key: the SHA-256 of the whole `Authorization` value (`Bearer ` and the
 *   token: header, payload and signature), so a token that differs from a
 *   cached one in any byte (another signature, a tampered payload) misses and
 *   is verified in full. Finding a second value with the same key would mean
 *   breaking SHA-256.
 * - Bound: at most `maxEntries` tokens, least recently used out first
 *   (approximately: see `get`).
 * - Expiry: an entry is used while the token's `exp` is still acceptable
 *   exactly as the verification judged it (jose's rule, with the same clock
 *   tolerance), no longer than `maxAgeMs` after its verification began, and
 *   no longer than the key that verified it counts as current (its key
 *   set's load plus that set's maximum age, see `keysTrustedUntil`). So the
 *   cache never honours a key longer than the key set itself would.
 * - Key removal: when any key set drops a key, every entry verified before
 *   that moment is void at once (see `keyRemovalEpoch`).
 * - Only verified claims are kept; scope and claim requirements are still
 *   checked on every request. The claims are frozen, since requests with
 *   the same token share them.
 *
 * Hashing: Web Crypto everywhere; on Node.js (and runtimes that provide
 * `node:crypto`) the synchronous one-shot hash, loaded lazily, which is
 * ~20x faster than the asynchronous `crypto.subtle.digest`. Both produce the
 * same key (the digest as a binary string).
 */
import type { IDToken } from "./claims.ts";
import { keyRemovalEpoch, keysTrustedUntil } from "./keyset.ts";
import { loadNodeCrypto, nodeCrypto } from "./node-crypto.ts";

export interface TokenCacheOptions {
  /** Most tokens kept; 0 switches the cache off. */
  maxEntries: number;
  /** Longest time an entry is used after its verification began. */
  maxAgeMs: number;
  /** The clock tolerance of the verification, in seconds. */
  clockToleranceSeconds: number;
}

interface Entry {
  claims: IDToken;
  /** `Date.now()` after which the entry is void (verification start + max age, or sooner). */
  usableUntilMs: number;
  /** The token's `exp` plus the clock tolerance, in seconds. */
  expiresAfter: number;
  /** `keyRemovalEpoch()` when its verification began. */
  epoch: number;
  /** The cache's insertion count when the entry last moved to the recent end. */
  tick: number;
}

type SyncHash = (token: string) => string;

let nodeHash: SyncHash | undefined;

/** The synchronous SHA-256 of `node:crypto` once it is loaded (see node-crypto.ts). */
function syncHash(): SyncHash | undefined {
  if (nodeHash !== undefined) return nodeHash;
  const node = nodeCrypto();
  if (node === undefined) return undefined;
  const { hash, createHash } = node;
  nodeHash =
    typeof hash === "function"
      ? (token) => hash("sha256", token, "binary")
      : (token) => createHash("sha256").update(token).digest("binary");
  return nodeHash;
}

const encoder = new TextEncoder();

/** SHA-256 with Web Crypto, as the same binary string `node:crypto` gives. */
async function webHash(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token)));
  return String.fromCharCode(...digest);
}

/**
 * The SHA-256 of a whole token (or `Authorization` value) as a cache key:
 * synchronous once `node:crypto` is loaded, Web Crypto until then.
 */
export function tokenHash(text: string): string | Promise<string> {
  loadNodeCrypto();
  return (nodeHash ?? syncHash() ?? webHash)(text);
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly tolerance: number;
  /** Insertions and moves so far: how far back in the order an entry is. */
  private tick = 0;

  constructor(options: TokenCacheOptions, useNodeHash = true) {
    this.maxEntries = options.maxEntries;
    this.maxAgeMs = options.maxAgeMs;
    this.tolerance = options.clockToleranceSeconds;
    if (useNodeHash) loadNodeCrypto();
    this.hash = useNodeHash ? (token) => (nodeHash ?? syncHash() ?? webHash)(token) : webHash;
  }

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The cache key of a bearer token's `Authorization` value: synchronous once `node:crypto` is loaded. */
  readonly hash: (token: string) => string | Promise<string>;

  /** The claims of a cached token that is still acceptable. */
  get(key: string, now = Date.now()): IDToken | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // jose's rule: expired once `exp <= now - tolerance`, now in whole seconds.
    if (
      now >= entry.usableUntilMs ||
      Math.floor(now / 1000) >= entry.expiresAfter ||
      entry.epoch !== keyRemovalEpoch()
    ) {
      this.entries.delete(key);
      return undefined;
    }
    // Most recently used last: moved only once it is in the older half, so
    // that hits on recent entries cost no map churn (an approximate LRU that
    // never evicts an entry used within the last maxEntries / 2 insertions).
    if (this.tick - entry.tick > this.maxEntries >> 1) {
      this.entries.delete(key);
      entry.tick = ++this.tick;
      this.entries.set(key, entry);
    }
    return entry.claims;
  }

  /**
   * Keeps the claims of a token verified since `startedAt` (taken, with
   * `epoch`, before the verification began); returns them frozen.
   */
  set(key: string, claims: IDToken, startedAt: number, epoch: number): IDToken {
    const frozen = deepFreeze(claims);
    const usableUntilMs = Math.min(startedAt + this.maxAgeMs, keysTrustedUntil(claims));
    // Keys past their age (kept while the JWKS fails) give entries void from the start.
    if (typeof claims.exp !== "number" || usableUntilMs <= startedAt) return frozen;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, {
      claims: frozen,
      usableUntilMs,
      expiresAfter: claims.exp + this.tolerance,
      epoch,
      tick: ++this.tick,
    });
    return frozen;
  }

  clear(): void {
    this.entries.clear();
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
