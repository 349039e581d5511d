/**
 * An in-process store: for tests, development and single-instance apps.
 * Everything is lost on restart, and instances of the app do not share it.
 * JavaScript runs one call at a time, so every method is atomic as written.
 */
import {
  isLive,
  nowSeconds,
  ROTATION_NOT_CLAIMED,
  ROTATION_SESSION_GONE,
  RotationConflictError,
  sessionMatches,
  unclaimedResult,
} from "./common.ts";
import type {
  BrokerStore,
  ConsumeResult,
  RefreshClaim,
  RefreshTokenRecord,
  Rotation,
  SessionRecord,
  SigningKeyRecord,
} from "./types.ts";

/** How many entries each write inspects for expiry, so memory stays bounded without a timer. */
const SWEEP_BUDGET = 8;

/** A map whose values expire: expired entries are invisible on read and swept a few at a time. */
class ExpiringMap<V extends { expiresAt: number }> {
  private readonly entries = new Map<string, V>();
  private cursor: Iterator<[string, V]> | undefined;

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): V | undefined {
    const value = this.entries.get(key);
    if (value && !isLive(value, now)) {
      this.entries.delete(key);
      return undefined;
    }
    return value;
  }

  has(key: string, now: number): boolean {
    return this.get(key, now) !== undefined;
  }

  set(key: string, value: V, now: number): void {
    this.entries.set(key, value);
    this.sweep(now, SWEEP_BUDGET);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The live values. */
  *values(now: number): Iterable<V> {
    for (const value of this.entries.values()) if (isLive(value, now)) yield value;
  }

  deleteWhere(predicate: (value: V) => boolean): void {
    for (const [key, value] of this.entries) {
      if (predicate(value)) this.entries.delete(key);
    }
  }

  /** Inspects up to `budget` entries, resuming where the last sweep stopped. */
  sweep(now: number, budget: number): void {
    for (let inspected = 0; inspected < budget; inspected++) {
      this.cursor ??= this.entries.entries();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        return;
      }
      const [key, value] = next.value;
      if (!isLive(value, now)) this.entries.delete(key);
    }
  }

  purge(now: number): void {
    this.deleteWhere((value) => !isLive(value, now));
  }
}

/** A refresh token and the hash of the one it replaced (BrokerStore.completeRotation keeps two). */
type ChainedToken = RefreshTokenRecord & { previous?: string | undefined };

const isClaimOf = (token: RefreshTokenRecord, claim: RefreshClaim) =>
  token.successor === null && token.consumedAt === claim.claimedAt;

/** How many records a MemoryBrokerStore holds (for monitoring and tests). */
export interface MemoryStoreSize {
  signingKeys: number;
  sessions: number;
  refreshTokens: number;
  usedIds: number;
  peerJwks: number;
}

export class MemoryBrokerStore implements BrokerStore {
  private readonly signingKeys = new Map<number, SigningKeyRecord>();
  private readonly sessions = new ExpiringMap<SessionRecord>();
  private readonly tokens = new ExpiringMap<ChainedToken>();
  private readonly usedIds = new ExpiringMap<{ expiresAt: number }>();
  private readonly peerJwks = new Map<string, { jwks: string; fetchedAt: number }>();

  async init(): Promise<void> {}

  async close(): Promise<void> {}

  size(): MemoryStoreSize {
    return {
      signingKeys: this.signingKeys.size,
      sessions: this.sessions.size,
      refreshTokens: this.tokens.size,
      usedIds: this.usedIds.size,
      peerJwks: this.peerJwks.size,
    };
  }

  async putSigningKeyIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    const existing = this.signingKeys.get(key.slot);
    if (existing) return { ...existing };
    this.signingKeys.set(key.slot, { ...key });
    return { ...key };
  }

  async listSigningKeys(limit: number): Promise<SigningKeyRecord[]> {
    return [...this.signingKeys.values()]
      .sort((a, b) => b.slot - a.slot)
      .slice(0, Math.max(0, limit))
      .map((key) => ({ ...key }));
  }

  async createSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void> {
    const now = nowSeconds();
    this.sessions.set(session.id, { ...session }, now);
    this.tokens.set(firstToken.hash, { ...firstToken }, now);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const session = this.sessions.get(id, nowSeconds());
    return session ? { ...session } : null;
  }

  async revokeSession(id: string): Promise<void> {
    this.sessions.delete(id);
    this.tokens.deleteWhere((token) => token.sessionId === id);
  }

  /** A scan of every session: fine for the one-process store this is. */
  async revokeSessionsOf(who: { subject?: string; idpSid?: string }): Promise<number> {
    const now = nowSeconds();
    const ids = [...this.sessions.values(now)]
      .filter((session) => sessionMatches(session, who))
      .map((session) => session.id);
    for (const id of ids) await this.revokeSession(id);
    return ids.length;
  }

  async consumeRefreshToken(hash: string, now: number): Promise<ConsumeResult> {
    return this.claim(hash, now, (token) => token.consumedAt === null);
  }

  async reclaimRefreshToken(claim: RefreshClaim, now: number): Promise<ConsumeResult> {
    return this.claim(claim.hash, now, (token) => isClaimOf(token, claim));
  }

  private claim(
    hash: string,
    now: number,
    claimable: (token: RefreshTokenRecord) => boolean,
  ): ConsumeResult {
    const token = this.tokens.get(hash, now) ?? null;
    const session = token ? (this.sessions.get(token.sessionId, now) ?? null) : null;
    if (!token || !session || !claimable(token)) {
      return unclaimedResult(token && record(token), session, now);
    }
    token.consumedAt = now;
    return { status: "claimed", token: record(token), session: { ...session } };
  }

  async releaseRefreshToken(claim: RefreshClaim): Promise<void> {
    const token = this.tokens.get(claim.hash, nowSeconds());
    if (token && isClaimOf(token, claim)) token.consumedAt = null;
  }

  async completeRotation({
    claim,
    successor,
    next,
    sessionData,
    completedAt,
  }: Rotation): Promise<void> {
    const now = nowSeconds();
    const consumed = this.tokens.get(claim.hash, now);
    if (!consumed || !isClaimOf(consumed, claim)) {
      throw new RotationConflictError(ROTATION_NOT_CLAIMED);
    }
    const session = this.sessions.get(next.sessionId, now);
    if (!session) throw new RotationConflictError(ROTATION_SESSION_GONE);
    // Rotations form a chain, so the token before the consumed one is the only older one.
    if (consumed.previous !== undefined) this.tokens.delete(consumed.previous);
    consumed.previous = undefined;
    consumed.successor = successor;
    consumed.consumedAt = completedAt;
    this.tokens.set(next.hash, { ...next, previous: claim.hash }, now);
    session.data = sessionData;
  }

  async getRefreshToken(hash: string): Promise<RefreshTokenRecord | null> {
    const token = this.tokens.get(hash, nowSeconds());
    return token ? record(token) : null;
  }

  async savePeerJwks(issuer: string, jwks: string, fetchedAt: number): Promise<void> {
    this.peerJwks.set(issuer, { jwks, fetchedAt });
  }

  async loadPeerJwks(issuer: string): Promise<{ jwks: string; fetchedAt: number } | null> {
    const entry = this.peerJwks.get(issuer);
    return entry ? { ...entry } : null;
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const now = nowSeconds();
    if (this.usedIds.has(id, now)) return false;
    this.usedIds.set(id, { expiresAt }, now);
    return true;
  }

  async purgeExpired(now: number): Promise<void> {
    this.sessions.purge(now);
    this.tokens.purge(now);
    this.usedIds.purge(now);
    // Tokens of a session that expired are useless even before their own expiry.
    this.tokens.deleteWhere((token) => !this.sessions.has(token.sessionId, now));
  }

  /** Instant revocation's deny-list (docs/broker.md "Instant revocation"). */
  private readonly deniedSessions = new ExpiringMap<{ expiresAt: number }>();

  async denySessions(ids: readonly string[], expiresAt: number): Promise<void> {
    const now = nowSeconds();
    for (const id of ids) this.deniedSessions.set(id, { expiresAt }, now);
  }

  async isSessionDenied(id: string): Promise<boolean> {
    return this.deniedSessions.has(id, nowSeconds());
  }

  async sessionIdsOf(who: { subject?: string; idpSid?: string }): Promise<string[]> {
    return [...this.sessions.values(nowSeconds())]
      .filter((session) => sessionMatches(session, who))
      .map((session) => session.id);
  }
}

/** The record as the interface defines it, without the chain link. */
function record({ previous: _, ...token }: ChainedToken): RefreshTokenRecord {
  return token;
}
