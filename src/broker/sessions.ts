/**
 * Broker sessions and refresh-token rotation (README "Broker mode", OAuth
 * 2.1 §4.3.1). The refresh token a
 * client holds is an opaque random string, stored by hash only, so an access
 * token (expired or not) can never pass for one. Every refresh consumes it
 * with one atomic conditional update in the store: of any number of
 * concurrent requests exactly one wins, refreshes at the IdP once and
 * records the new token pair (encrypted) on the consumed token. The others
 * get that same pair while the grace window lasts; after it, presenting a
 * consumed token revokes the whole session (reuse detection).
 */
import { base64url } from "jose";
import { AuthError, badRequest, unauthorized, unavailable } from "../core/errors.ts";
import { nowSeconds } from "../core/time.ts";
import type { IdpSessionRef } from "../core/token-mode.ts";
import type { TokenResponseBody } from "../core/token-response.ts";
import { RotationConflictError } from "../stores/common.ts";
import type { BrokerStore, RefreshTokenRecord, SessionRecord } from "../stores/types.ts";
import { type SecretBox, UnreadableSecret } from "./secret-box.ts";

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
}

/** What a session needs from the IdP and the token minter. */
export interface SessionServices {
  store: () => Promise<BrokerStore>;
  box: SecretBox;
  /** Refreshes at the IdP; returns the new IdP refresh token and scope. */
  refreshAtIdp(idpRefreshToken: string): Promise<{ refreshToken?: string; scope?: string }>;
  mintAccessToken(
    profile: Profile,
    scope: string,
    sessionId: string,
  ): Promise<{ token: string; expires: number }>;
  graceSeconds: number;
  /** How long a concurrent request waits for the winner's new token pair. */
  waitMs: number;
}

export const sessionEnded = (why = "Your session has ended; log in again.") =>
  unauthorized(why, "invalid_grant");

/** How often expired sessions are purged from stores without native expiry. */
const PURGE_INTERVAL_SECONDS = 600;

export class BrokerSessions {
  private lastPurge = 0;

  constructor(private readonly services: SessionServices) {}

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
    };
    const session: SessionRecord = {
      id: randomToken(),
      subject: data.profile.sub,
      ...(idpSid === undefined ? {} : { idpSid }),
      data: JSON.stringify(data),
      createdAt: nowSeconds(),
      expiresAt,
    };
    const refresh = await newRefreshToken(session);
    const body = await this.tokenPair(session, data, refresh.token);
    const opened = await store();
    await opened.createSession(session, refresh.record);
    this.purgeNowAndThen(opened);
    return body;
  }

  /** Rotates a refresh token (see the module comment). */
  async refresh(presented: string): Promise<TokenResponseBody> {
    const store = await this.services.store();
    const hash = await hashToken(presented);
    const deadline = Date.now() + this.services.waitMs;
    for (;;) {
      const result = await store.consumeRefreshToken(hash, nowSeconds());
      if (result.status === "unknown") throw sessionEnded();
      if (result.status === "claimed") return this.rotate(store, result.token, result.session);
      const replay = await this.replay(store, result.token, deadline);
      if (replay !== undefined) return replay;
      // The winner gave its claim back (IdP unreachable): try to win it now.
    }
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

  /** The session a refresh token belongs to, live or already rotated; undefined when unknown. */
  async sessionIdOf(presented: string): Promise<string | undefined> {
    const record = await (await this.services.store()).getRefreshToken(await hashToken(presented));
    return record?.sessionId;
  }

  /** The live (not yet rotated) refresh token's record, its session and the session's data. */
  async describe(
    presented: string,
  ): Promise<{ token: RefreshTokenRecord; session: SessionRecord; data: SessionData } | undefined> {
    const store = await this.services.store();
    const token = await store.getRefreshToken(await hashToken(presented));
    if (token === null || token.consumedAt !== null) return undefined;
    const session = await store.getSession(token.sessionId);
    if (session === null) return undefined;
    return { token, session, data: JSON.parse(session.data) as SessionData };
  }

  async isLive(sessionId: string): Promise<boolean> {
    return (await (await this.services.store()).getSession(sessionId)) !== null;
  }

  private async rotate(
    store: BrokerStore,
    consumed: RefreshTokenRecord,
    session: SessionRecord,
  ): Promise<TokenResponseBody> {
    const data = JSON.parse(session.data) as SessionData;
    let next: SessionData;
    try {
      next = await this.refreshAtIdp(data);
    } catch (error) {
      if (error instanceof AuthError && error.error === "invalid_grant") {
        await store.revokeSession(session.id);
        throw sessionEnded("The identity provider ended this session; log in again.");
      }
      // Sealed under a secret no longer configured: the session cannot go on.
      if (error instanceof UnreadableSecret) {
        await store.revokeSession(session.id);
        throw sessionEnded();
      }
      await store.releaseRefreshToken(consumed.hash);
      throw error;
    }
    const refresh = await newRefreshToken(session);
    const body = await this.tokenPair(session, next, refresh.token);
    const successor = await this.services.box.seal(JSON.stringify(body));
    try {
      await store.completeRotation(consumed.hash, successor, refresh.record, JSON.stringify(next));
    } catch (error) {
      if (error instanceof RotationConflictError) throw sessionEnded();
      throw error;
    }
    return body;
  }

  /** Each rotation refreshes at the IdP once, so a user revoked there loses the session. */
  private async refreshAtIdp(data: SessionData): Promise<SessionData> {
    if (data.idpRefreshToken === undefined) return data;
    const refreshed = await this.services.refreshAtIdp(
      await this.services.box.open(data.idpRefreshToken),
    );
    return {
      ...data,
      scope: refreshed.scope ?? data.scope,
      idpRefreshToken: refreshed.refreshToken
        ? await this.services.box.seal(refreshed.refreshToken)
        : data.idpRefreshToken,
    };
  }

  /**
   * A consumed token presented again. Presented inside the grace window, it
   * gets the same new pair (waiting for the winner to record it); after the
   * window, that is reuse: the session is revoked. Undefined when the winner
   * released its claim and the caller should try to win it.
   */
  private async replay(
    store: BrokerStore,
    token: RefreshTokenRecord,
    deadline: number,
  ): Promise<TokenResponseBody | undefined> {
    const { graceSeconds } = this.services;
    const presentedAt = nowSeconds();
    for (let record: RefreshTokenRecord | null = token; ; ) {
      if (record === null) throw sessionEnded();
      if (record.consumedAt === null) return undefined;
      const inGrace = graceSeconds > 0 && presentedAt - record.consumedAt <= graceSeconds;
      if (record.successor !== null) {
        if (inGrace) return this.openSuccessor(store, record.sessionId, record.successor);
        await store.revokeSession(record.sessionId);
        throw sessionEnded(
          "This refresh token was already used; the session is revoked. Log in again.",
        );
      }
      // The winning rotation is still running: a concurrent request, not a replay yet.
      if (!inGrace) throw badRequest("This refresh token is already being used.", "invalid_grant");
      if (Date.now() >= deadline)
        throw unavailable("The refresh is still in progress; try again shortly.");
      await new Promise((resolve) => setTimeout(resolve, 25));
      record = await store.getRefreshToken(token.hash);
    }
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
}

async function newRefreshToken(session: SessionRecord) {
  const token = `rt.${randomToken()}`;
  const record: RefreshTokenRecord = {
    hash: await hashToken(token),
    sessionId: session.id,
    expiresAt: session.expiresAt,
    consumedAt: null,
    successor: null,
  };
  return { token, record };
}

function randomToken(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}

async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return base64url.encode(new Uint8Array(digest));
}
