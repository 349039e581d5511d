/**
 * Broker sessions and refresh-token rotation (docs/broker.md "Broker mode" and
 * "Running several instances", OAuth 2.1 §4.3.1). The refresh token a
 * client holds is an opaque string (refresh-tokens.ts), stored by hash only,
 * so an access token (expired or not) can never pass for one. Every refresh
 * consumes it with one atomic conditional update in the store: of any
 * number of concurrent requests exactly one wins, refreshes at the IdP once
 * and records the new token pair (encrypted) on the consumed token. The
 * others get that same pair while the grace window lasts; after it,
 * presenting a consumed token, or any older token of the session, revokes
 * the whole session (reuse detection).
 *
 * A claim is a lease: when its holder has not finished within
 * `leaseSeconds` (it died, or lost its store), the next request takes it
 * over and refreshes at the IdP itself with the stored IdP refresh token.
 */
import { AuthError, badRequest, unauthorized, unavailable } from "../core/errors.ts";
import type { ResolvedLogger } from "../core/log.ts";
import { nowSeconds } from "../core/time.ts";
import type { IdpSessionRef } from "../core/token-mode.ts";
import type { TokenResponseBody } from "../core/token-response.ts";
import { RotationConflictError } from "../stores/common.ts";
import type {
  BrokerStore,
  RefreshClaim,
  RefreshTokenRecord,
  Rotation,
  SessionRecord,
} from "../stores/types.ts";
import { hashToken, type RefreshTokens, randomPart } from "./refresh-tokens.ts";
import { type SecretBox, UnreadableSecret } from "./secret-box.ts";
import { UnrecordedRotations } from "./unrecorded-rotations.ts";

/** Who the session belongs to: what minted tokens say about the user. */
export interface Profile {
  sub: string;
  preferred_username?: string;
  email?: string;
  given_name?: string;
  family_name?: string;
  roles: string[];
}

export interface SessionData {
  profile: Profile;
  scope: string;
  /** The IdP's refresh token, sealed; absent when the IdP gave none. */
  idpRefreshToken?: string;
  /** How many rotations the session has had: the generation of its live refresh token. */
  generation?: number;
}

/** What a session needs from the IdP and the token minter. */
export interface SessionServices {
  store: () => Promise<BrokerStore>;
  box: SecretBox;
  refreshTokens: RefreshTokens;
  /** Refreshes at the IdP; returns the new IdP refresh token and scope. */
  refreshAtIdp(idpRefreshToken: string): Promise<{ refreshToken?: string; scope?: string }>;
  mintAccessToken(
    profile: Profile,
    scope: string,
    sessionId: string,
  ): Promise<{ token: string; expires: number }>;
  graceSeconds: number;
  /** How long a claim holds before another request may take it over: past the holder's IdP call. */
  leaseSeconds: number;
  logger: ResolvedLogger;
}

export const sessionEnded = (why = "Your session has ended; log in again.") =>
  unauthorized(why, "invalid_grant");

const reuseRevoked = () =>
  sessionEnded("This refresh token was already used; the session is revoked. Log in again.");

/** How often expired sessions are purged from stores without native expiry. */
const PURGE_INTERVAL_SECONDS = 600;
/** Polling for a concurrent rotation's result: first and longest pause. */
const POLL_FIRST_MS = 25;
const POLL_MAX_MS = 250;

export class BrokerSessions {
  private lastPurge = 0;
  private readonly unrecorded: UnrecordedRotations;

  constructor(private readonly services: SessionServices) {
    this.unrecorded = new UnrecordedRotations(services.logger);
  }

  /** Starts a session after a login and returns its first token pair. */
  async create(
    profile: Profile,
    scope: string,
    idpRefreshToken: string | undefined,
    expiresAt: number,
    /** The IdP's session id (`sid` of its ID token), so that its back-channel logout finds this session. */
    idpSid?: string,
  ): Promise<TokenResponseBody> {
    const { store, box } = this.services;
    const data: SessionData = {
      profile,
      scope,
      ...(idpRefreshToken ? { idpRefreshToken: await box.seal(idpRefreshToken) } : {}),
      generation: 0,
    };
    const session: SessionRecord = {
      id: randomPart(),
      subject: data.profile.sub,
      ...(idpSid === undefined ? {} : { idpSid }),
      data: JSON.stringify(data),
      createdAt: nowSeconds(),
      expiresAt,
    };
    const refresh = await this.newRefreshToken(session, 0);
    const body = await this.tokenPair(session, data, refresh.token);
    const opened = await store();
    await opened.createSession(session, refresh.record);
    this.purgeNowAndThen(opened);
    return body;
  }

  /** Rotates a refresh token (see the module comment). */
  async refresh(presented: string): Promise<TokenResponseBody> {
    const hash = hashToken(presented);
    const held = this.unrecorded.answerFor(hash);
    if (held !== undefined) return held;
    if (this.unrecorded.isUnwritten(hash)) {
      throw unavailable("The previous refresh is still being recorded; try again shortly.");
    }
    const store = await this.services.store();
    for (;;) {
      const result = await store.consumeRefreshToken(hash, nowSeconds());
      if (result.status === "unknown") return this.refuseUnknown(store, presented);
      if (result.status === "claimed") return this.rotate(store, result.token, result.session);
      const outcome = await this.awaitRotation(store, result.token);
      if (outcome !== undefined) return outcome;
      // Released by its holder (IdP unreachable): try to win it now.
    }
  }

  /** Stops background work (held rotations being written). */
  close(): void {
    this.unrecorded.close();
  }

  /** Stores without native expiry (SQL, memory) need expired rows deleted; in the background. */
  private purgeNowAndThen(store: BrokerStore): void {
    const now = nowSeconds();
    if (now - this.lastPurge < PURGE_INTERVAL_SECONDS) return;
    this.lastPurge = now;
    store.purgeExpired(now).catch(() => {});
  }

  async revoke(sessionId: string): Promise<void> {
    await (await this.services.store()).revokeSession(sessionId);
  }

  /** Ends every session of an IdP session or subject (back-channel logout); how many ended. */
  async endIdpSessions(who: IdpSessionRef): Promise<number> {
    return (await this.services.store()).revokeSessionsOf(who);
  }

  /** The session a genuine refresh token belongs to, live or already rotated; undefined when unknown. */
  async sessionIdOf(presented: string): Promise<string | undefined> {
    const record = await (await this.services.store()).getRefreshToken(hashToken(presented));
    return record?.sessionId ?? (await this.services.refreshTokens.name(presented))?.sessionId;
  }

  /** The live (not yet rotated) refresh token's record, its session and the session's data. */
  async describe(
    presented: string,
  ): Promise<{ token: RefreshTokenRecord; session: SessionRecord; data: SessionData } | undefined> {
    const store = await this.services.store();
    const token = await store.getRefreshToken(hashToken(presented));
    if (token === null || token.consumedAt !== null) return undefined;
    const session = await store.getSession(token.sessionId);
    if (session === null) return undefined;
    return { token, session, data: JSON.parse(session.data) as SessionData };
  }

  async isLive(sessionId: string): Promise<boolean> {
    return (await (await this.services.store()).getSession(sessionId)) !== null;
  }

  /**
   * A token the store does not hold. When it is a genuine token of a live
   * session from an earlier generation, its rotation was long ago: reuse,
   * so the session is revoked. Anything else simply has no session.
   */
  private async refuseUnknown(store: BrokerStore, presented: string): Promise<never> {
    const name = await this.services.refreshTokens.name(presented);
    const session = name && (await store.getSession(name.sessionId));
    if (!name || !session || name.generation >= generationOf(session)) throw sessionEnded();
    await store.revokeSession(session.id);
    this.services.logger.warn("An old refresh token was presented again; its session is revoked", {
      session: session.id,
    });
    throw reuseRevoked();
  }

  private async rotate(
    store: BrokerStore,
    consumed: RefreshTokenRecord,
    session: SessionRecord,
  ): Promise<TokenResponseBody> {
    const claim: RefreshClaim = { hash: consumed.hash, claimedAt: consumed.consumedAt ?? 0 };
    const data = JSON.parse(session.data) as SessionData;
    let next: SessionData;
    try {
      next = await this.refreshAtIdp(data);
    } catch (error) {
      return this.failRotation(store, claim, session, error);
    }
    const refresh = await this.newRefreshToken(session, next.generation ?? 0);
    const body = await this.tokenPair(session, next, refresh.token);
    const rotation: Rotation = {
      claim,
      successor: await this.services.box.seal(JSON.stringify(body)),
      next: refresh.record,
      sessionData: JSON.stringify(next),
      completedAt: nowSeconds(),
    };
    try {
      await store.completeRotation(rotation);
    } catch (error) {
      if (error instanceof RotationConflictError) throw sessionEnded();
      this.unrecorded.hold(store, rotation, body, error);
      throw unavailable("The refresh could not be recorded yet; try again shortly.");
    }
    return body;
  }

  /** The IdP refused or could not be reached, or the stored secret cannot be opened. */
  private async failRotation(
    store: BrokerStore,
    claim: RefreshClaim,
    session: SessionRecord,
    error: unknown,
  ): Promise<never> {
    if (error instanceof AuthError && error.error === "invalid_grant") {
      await store.revokeSession(session.id);
      throw sessionEnded("The identity provider ended this session; log in again.");
    }
    // Sealed under a secret no longer configured: the session cannot go on.
    if (error instanceof UnreadableSecret) {
      await store.revokeSession(session.id);
      throw sessionEnded();
    }
    await store.releaseRefreshToken(claim);
    this.services.logger.info("A refresh claim was released: the IdP refresh did not complete", {
      session: session.id,
    });
    throw error;
  }

  /** Each rotation refreshes at the IdP once, so a user revoked there loses the session. */
  private async refreshAtIdp(data: SessionData): Promise<SessionData> {
    const generation = (data.generation ?? 0) + 1;
    if (data.idpRefreshToken === undefined) return { ...data, generation };
    const refreshed = await this.services.refreshAtIdp(
      await this.services.box.open(data.idpRefreshToken),
    );
    return {
      ...data,
      scope: refreshed.scope ?? data.scope,
      idpRefreshToken: refreshed.refreshToken
        ? await this.services.box.seal(refreshed.refreshToken)
        : data.idpRefreshToken,
      generation,
    };
  }

  /**
   * A consumed token presented again. With its rotation done: inside the
   * grace window it gets the same new pair, after it that is reuse and the
   * session is revoked. With its rotation still running: wait for it, and
   * take the claim over once its lease has run out. Undefined when the
   * holder released its claim and the caller should try to win it.
   */
  private async awaitRotation(
    store: BrokerStore,
    token: RefreshTokenRecord,
  ): Promise<TokenResponseBody | undefined> {
    const { graceSeconds, leaseSeconds } = this.services;
    const presentedAt = nowSeconds();
    const deadline = Date.now() + 2 * leaseSeconds * 1000;
    let pauseMs = POLL_FIRST_MS;
    for (let record: RefreshTokenRecord | null = token; ; ) {
      if (record === null) throw sessionEnded();
      if (record.consumedAt === null) return undefined;
      if (record.successor !== null) {
        const inGrace = graceSeconds > 0 && presentedAt - record.consumedAt <= graceSeconds;
        if (inGrace) return this.openSuccessor(store, record.sessionId, record.successor);
        await store.revokeSession(record.sessionId);
        throw reuseRevoked();
      }
      if (nowSeconds() - record.consumedAt >= leaseSeconds) {
        const taken = await this.takeOver(store, record);
        if (taken !== undefined) return taken;
      } else if (graceSeconds === 0) {
        // Without a grace window a second use is refused at once, however concurrent.
        throw badRequest("This refresh token is already being used.", "invalid_grant");
      }
      if (Date.now() >= deadline) {
        throw unavailable("The refresh is still in progress; try again shortly.");
      }
      await pause(pauseMs);
      pauseMs = Math.min(pauseMs * 2, POLL_MAX_MS);
      record = await store.getRefreshToken(token.hash);
    }
  }

  /** Takes over a claim whose lease ran out; undefined when another request took it first. */
  private async takeOver(
    store: BrokerStore,
    record: RefreshTokenRecord,
  ): Promise<TokenResponseBody | undefined> {
    const claim: RefreshClaim = { hash: record.hash, claimedAt: record.consumedAt ?? 0 };
    const result = await store.reclaimRefreshToken(claim, nowSeconds());
    if (result.status === "unknown") throw sessionEnded();
    if (result.status !== "claimed") return undefined;
    this.services.logger.warn(
      `A refresh claim held for ${this.services.leaseSeconds}s or more without a result was taken over; refreshing at the IdP again`,
      { session: result.session.id },
    );
    return this.rotate(store, result.token, result.session);
  }

  /** The pair a rotation recorded; a pair no configured secret opens ends the session. */
  private async openSuccessor(
    store: BrokerStore,
    sessionId: string,
    successor: string,
  ): Promise<TokenResponseBody> {
    try {
      return JSON.parse(await this.services.box.open(successor)) as TokenResponseBody;
    } catch (error) {
      if (!(error instanceof UnreadableSecret)) throw error;
      await store.revokeSession(sessionId);
      throw sessionEnded();
    }
  }

  private async tokenPair(
    session: SessionRecord,
    data: SessionData,
    refreshToken: string,
  ): Promise<TokenResponseBody> {
    const access = await this.services.mintAccessToken(data.profile, data.scope, session.id);
    const now = nowSeconds();
    return {
      access_token: access.token,
      token_type: "Bearer",
      expires: access.expires,
      expires_in: access.expires - now,
      refresh_token: refreshToken,
      refresh_expires: session.expiresAt,
      scope: data.scope,
    };
  }

  private async newRefreshToken(session: SessionRecord, generation: number) {
    const { token, hash } = await this.services.refreshTokens.issue({
      sessionId: session.id,
      generation,
    });
    const record: RefreshTokenRecord = {
      hash,
      sessionId: session.id,
      expiresAt: session.expiresAt,
      consumedAt: null,
      successor: null,
    };
    return { token, record };
  }
}

function generationOf(session: SessionRecord): number {
  return (JSON.parse(session.data) as SessionData).generation ?? 0;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
