/**
 * The persistence the broker needs, behind one interface. Every backend
 * (memory, SQLite, PostgreSQL, MySQL/MariaDB, Redis, MongoDB) implements it
 * and passes the same conformance suite (test/stores.test.ts).
 *
 * Values the broker must keep secret (IdP refresh tokens, private keys,
 * replayable token pairs) reach the store already encrypted: a store never
 * sees plaintext secrets and never needs to. Times are unix seconds.
 */

/** A broker signing key. `slot` makes creation race-safe: one key per slot. */
export interface SigningKeyRecord {
  /** Rotation slot, e.g. floor(now / rotationPeriod). Unique. */
  slot: number;
  kid: string;
  alg: string;
  /** Public JWK as JSON text. */
  publicJwk: string;
  /** Private JWK as JSON text, possibly encrypted by the broker. */
  privateJwk: string;
  createdAt: number;
}

/** A broker login session: one per login, survives refresh-token rotation. */
export interface SessionRecord {
  id: string;
  /** The IdP's `sub` of the user. */
  subject: string;
  /** The IdP's session id (`sid` of its ID token), when it gave one; queryable for back-channel logout. */
  idpSid?: string;
  /** Opaque to the store (JSON written by the broker, secrets encrypted). */
  data: string;
  createdAt: number;
  expiresAt: number;
}

/** One refresh token handed to a client, stored by hash only. */
export interface RefreshTokenRecord {
  /** A hash of the refresh token; the token itself is never stored. */
  hash: string;
  sessionId: string;
  expiresAt: number;
  /**
   * When a rotation claimed this token (null while it is the live token); once
   * the rotation completed, when it completed.
   */
  consumedAt: number | null;
  /**
   * What the rotation that consumed this token produced (opaque, encrypted by
   * the broker), so that a retry inside the grace window gets the same
   * answer. Null until the rotation completes.
   */
  successor: string | null;
}

/** A claim on a refresh token: its hash and the time of the claim, which fences out a late holder. */
export interface RefreshClaim {
  hash: string;
  claimedAt: number;
}

/** What completeRotation records. */
export interface Rotation {
  claim: RefreshClaim;
  /** The token pair handed out, sealed, for retries inside the grace window. */
  successor: string;
  next: RefreshTokenRecord;
  sessionData: string;
  completedAt: number;
}

export type ConsumeResult =
  /** This caller won: it alone must perform the rotation. */
  | { status: "claimed"; token: RefreshTokenRecord; session: SessionRecord }
  /** Someone else consumed it (at `token.consumedAt`), or released it again (null) a moment ago. */
  | { status: "already-consumed"; token: RefreshTokenRecord }
  /** Unknown, expired, or its session is gone or expired. */
  | { status: "unknown" };

export interface BrokerStore {
  /** Creates tables/indexes idempotently; safe to call from many processes at once. */
  init(): Promise<void>;
  /** Releases what the store opened itself (never a client the user passed in). */
  close(): Promise<void>;

  /** Inserts the key unless its slot is taken; returns the slot's key either way. */
  putSigningKeyIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord>;
  /** Newest first (by slot), at most `limit`. */
  listSigningKeys(limit: number): Promise<SigningKeyRecord[]>;

  createSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void>;
  /** Null when absent or expired. */
  getSession(id: string): Promise<SessionRecord | null>;
  /** Deletes the session and all of its refresh tokens. */
  revokeSession(id: string): Promise<void>;
  /**
   * Deletes, with all of their refresh tokens, the sessions an IdP's
   * back-channel logout names (OpenID Connect Back-Channel Logout 1.0 §2.7)
   * and returns how many there were:
   * - `idpSid` alone: the sessions with that IdP session id;
   * - `subject` alone: every session of that subject;
   * - both: the subject's sessions with that IdP session id or with none
   *   recorded (an IdP session this store cannot tell apart).
   * With neither, nothing is deleted.
   */
  revokeSessionsOf(who: { subject?: string; idpSid?: string }): Promise<number>;

  /**
   * Atomically marks the live token as consumed at `now` (a conditional
   * update, never read-then-write): of many concurrent callers exactly one
   * gets "claimed".
   */
  consumeRefreshToken(hash: string, now: number): Promise<ConsumeResult>;
  /**
   * Takes over a claim whose holder did not finish in time (it died, or its
   * store write was lost): a compare-and-set on `claim.claimedAt`, so of
   * many callers exactly one gets "claimed", and the late holder's
   * completeRotation or release then fails its own compare-and-set.
   */
  reclaimRefreshToken(claim: RefreshClaim, now: number): Promise<ConsumeResult>;
  /** Undoes a claim whose rotation could not finish (e.g. IdP unreachable); only the holder's. */
  releaseRefreshToken(claim: RefreshClaim): Promise<void>;
  /**
   * Finishes a rotation, all or nothing: records `successor` on the claimed
   * token (and `completedAt` as its consumedAt, so the grace window counts
   * from the answer), inserts the next token, replaces the session's data
   * and deletes the session's older rotated tokens, so a session keeps at
   * most two. Throws RotationConflictError when the claim is no longer the
   * caller's or the session is gone.
   */
  completeRotation(rotation: Rotation): Promise<void>;
  /** Reads a token record (to poll for a successor inside the grace window). */
  getRefreshToken(hash: string): Promise<RefreshTokenRecord | null>;

  /** Persists a trusted peer's JWKS (JSON text) so a restart survives the peer being down. */
  savePeerJwks(issuer: string, jwks: string, fetchedAt: number): Promise<void>;
  loadPeerJwks(issuer: string): Promise<{ jwks: string; fetchedAt: number } | null>;

  /**
   * Records `id` as used until `expiresAt`; true the first time, false on
   * every later call before it expires (single-use login state).
   */
  useOnce(id: string, expiresAt: number): Promise<boolean>;

  /** Deletes expired sessions, tokens and used-once ids (stores without native TTL). */
  purgeExpired(now: number): Promise<void>;

  /**
   * Instant revocation (docs/broker.md "Instant revocation"): puts sessions on the
   * shared deny-list until `expiresAt` (the longest life of their access
   * tokens), so that every instance refuses their tokens. Denying again
   * moves the expiry.
   */
  denySessions(ids: readonly string[], expiresAt: number): Promise<void>;
  /** Whether a session is on the deny-list (and its entry has not expired). */
  isSessionDenied(id: string): Promise<boolean>;
  /** The ids of the live sessions `revokeSessionsOf(who)` would delete now (same rules). */
  sessionIdsOf(who: { subject?: string; idpSid?: string }): Promise<string[]>;
}
