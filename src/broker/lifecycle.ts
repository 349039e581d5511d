/**
 * How broker sessions end and are inspected from outside (README "Broker
 * mode"): RFC 7009 revocation, RFC 7662 introspection, and the IdP's
 * back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.7).
 *
 * Refresh tokens (`rt.…`) and access tokens (JWTs) cannot be mistaken for
 * each other, so `token_type_hint` is accepted but never needed. Only this
 * broker's own tokens count: a trusted peer's token names a session of the
 * peer, not one here.
 */
import { decodeJwt } from "jose";
import type { IDToken } from "../core/claims.ts";
import { ClientRegistry } from "../core/client-auth.ts";
import { AuthError } from "../core/errors.ts";
import { nowSeconds } from "../core/time.ts";
import type { IdpSessionRef, IntrospectionBody, SessionLifecycle } from "../core/token-mode.ts";
import type { BrokerSessions } from "./sessions.ts";

export interface LifecycleServices {
  sessions: BrokerSessions;
  /** This broker's issuer (decided on first use). */
  issuer(): string;
  audience: string;
  /** The claims of a token this broker signed; an AuthError otherwise. */
  verifyOwn(token: string): Promise<IDToken>;
  introspectionClients: ReadonlyArray<{ clientId: string; clientSecret: string }>;
}

const INACTIVE: IntrospectionBody = { active: false };

export class BrokerLifecycle implements SessionLifecycle {
  private readonly introspectors: ClientRegistry;

  constructor(private readonly services: LifecycleServices) {
    this.introspectors = new ClientRegistry(services.introspectionClients);
  }

  /** RFC 7009 §2.1: the refresh token's session, or the session an unexpired access token names. */
  async revokeToken(token: string): Promise<void> {
    const { sessions } = this.services;
    if (isRefreshToken(token)) {
      // A rotated token too: its holder had the session, and reuse would end it anyway.
      const sessionId = await sessions.sessionIdOf(token);
      if (sessionId !== undefined) await sessions.revoke(sessionId);
      return;
    }
    const claims = await this.ownClaims(token);
    if (typeof claims?.sid === "string") await sessions.revoke(claims.sid);
  }

  mayIntrospect(authorization: string | undefined): Promise<boolean> {
    return this.introspectors.authenticates(authorization);
  }

  /**
   * RFC 7662 §2.2. Stateful, unlike the guards: an access token whose
   * session has ended is inactive at once, though guards accept it until
   * its `exp`.
   */
  async introspect(token: string): Promise<IntrospectionBody> {
    const { sessions, audience } = this.services;
    const issuer = this.services.issuer();
    if (isRefreshToken(token)) {
      const live = await sessions.describe(token);
      if (live === undefined) return INACTIVE;
      const { profile, scope } = live.data;
      return {
        active: true,
        scope,
        ...(profile.preferred_username ? { username: profile.preferred_username } : {}),
        token_type: "refresh_token",
        exp: Math.min(live.token.expiresAt, live.session.expiresAt),
        sub: profile.sub,
        iss: issuer,
        sid: live.session.id,
      };
    }
    const claims = await this.ownClaims(token);
    if (claims === undefined) return INACTIVE;
    const sid = typeof claims.sid === "string" ? claims.sid : undefined;
    if (sid !== undefined && !(await sessions.isLive(sid))) return INACTIVE;
    const text = (value: unknown) => (typeof value === "string" ? value : undefined);
    const number = (value: unknown) => (typeof value === "number" ? value : undefined);
    return withoutUndefined({
      active: true,
      scope: text(claims.scope),
      username: text(claims.preferred_username),
      token_type: "Bearer",
      exp: number(claims.exp),
      iat: number(claims.iat),
      nbf: number(claims.nbf),
      sub: claims.sub,
      aud: audience,
      iss: issuer,
      jti: text(claims.jti),
      sid,
    });
  }

  endIdpSessions(who: IdpSessionRef): Promise<number> {
    return this.services.sessions.endIdpSessions(who);
  }

  /** The claims of a valid, unexpired token this broker signed; undefined for any other. */
  private async ownClaims(token: string): Promise<IDToken | undefined> {
    try {
      if (decodeJwt(token).iss !== this.services.issuer()) return undefined;
    } catch {
      return undefined;
    }
    try {
      const claims = await this.services.verifyOwn(token);
      return typeof claims.exp === "number" && claims.exp > nowSeconds() ? claims : undefined;
    } catch (error) {
      // 401: not a valid token, so nothing to revoke or report; 503 and the like pass on.
      if (error instanceof AuthError && error.status === 401) return undefined;
      throw error;
    }
  }
}

function isRefreshToken(token: string): boolean {
  return token.startsWith("rt.");
}

function withoutUndefined(body: Record<string, unknown>): IntrospectionBody {
  return Object.fromEntries(
    Object.entries(body).filter(([, value]) => value !== undefined),
  ) as unknown as IntrospectionBody;
}
