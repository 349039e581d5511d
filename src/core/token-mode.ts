/**
 * Whose tokens the app hands out and accepts. The core's endpoints and
 * guards speak to this one interface; passthrough mode (passthrough.ts)
 * relays the IdP's tokens, broker mode (src/broker) mints its own. The
 * core never knows which one it has.
 */
import type { JSONWebKeySet } from "jose";
import type { IDToken } from "./claims.ts";
import type { TokenSet } from "./idp.ts";
import type { UsedOnceRegistry } from "./state.ts";
import type { TokenResponseBody } from "./token-response.ts";

/** The RFC 8693 §2.2.1 answer of a token exchange. */
export interface TokenExchangeBody {
  access_token: string;
  issued_token_type: string;
  token_type: "Bearer";
  expires: number;
  expires_in: number;
  scope: string;
}

/** The endpoints' paths below the router prefix, for published metadata (absent: switched off). */
export interface EndpointPaths {
  token?: string;
  login?: string;
  deviceFlow?: string;
  userinfo?: string;
  jwks?: string;
  revocation?: string;
  introspection?: string;
}

/** RFC 7662 §2.2: the answer of token introspection. */
export interface IntrospectionBody {
  active: boolean;
  scope?: string;
  client_id?: string;
  username?: string;
  token_type?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  sub?: string;
  aud?: string | string[];
  iss?: string;
  jti?: string;
  sid?: string;
}

/** Whose sessions an IdP logout ends (Back-Channel Logout 1.0 §2.4: `sub`, `sid` or both). */
export interface IdpSessionRef {
  subject?: string;
  idpSid?: string;
}

/**
 * What a mode that keeps sessions (broker mode) offers to end and inspect
 * them: RFC 7009 revocation, RFC 7662 introspection and the receiver of the
 * IdP's back-channel logout. Absent in passthrough mode, which keeps nothing.
 */
export interface SessionLifecycle {
  /** RFC 7009 §2.1: ends the session of one of this mode's tokens; nothing for unknown or invalid tokens. */
  revokeToken(token: string, hint: string | undefined): Promise<void>;
  /** RFC 7662 §2.1: true when the `Authorization` value authenticates a caller allowed to introspect. */
  mayIntrospect(authorization: string | undefined): Promise<boolean>;
  /** RFC 7662 §2.2: what is known about one of this mode's tokens; `{ active: false }` for anything else. */
  introspect(token: string, hint: string | undefined): Promise<IntrospectionBody>;
  /** Back-Channel Logout 1.0 §2.7: ends every session of that IdP session or subject; how many ended. */
  endIdpSessions(who: IdpSessionRef): Promise<number>;
}

/** What a mode publishes: its keys and its metadata document (RFC 8414). */
export interface Publication {
  /** Path of the JWKS below the router prefix. */
  jwksPath: string;
  jwks(): Promise<JSONWebKeySet>;
  metadata(endpoints: EndpointPaths): Record<string, unknown>;
}

export interface TokenMode {
  /** Whether the mode hands out tokens of its own, which clients can only get at the token endpoint. */
  readonly mintsTokens: boolean;
  /** The token JSON after the IdP granted tokens for a login (code or device grant). */
  issue(tokens: TokenSet): Promise<TokenResponseBody>;
  /** The token JSON for a client's refresh token. */
  refresh(refreshToken: string): Promise<TokenResponseBody>;
  /** RFC 8693: a verified IdP access token (and its claims) in, a token of this mode out; absent when not offered. */
  exchange?(subject: IDToken, subjectToken: string): Promise<TokenExchangeBody>;
  /** The claims of a bearer token this mode accepts; an AuthError (401, 503) otherwise. */
  verify(token: string): Promise<IDToken>;
  /** `verify` without an await where the mode can answer now; undefined means "ask `verify`". */
  verifyNow?(token: string): IDToken | undefined;
  /** Logout with a token: ends what it belongs to, if this mode keeps anything. */
  revoke(token: string): Promise<void>;
  /** The claims /userinfo answers from: the token's own, completed where the mode can. */
  userClaims(claims: IDToken, accessToken: string): Promise<Record<string, unknown>>;
  /**
   * Whether the session of verified claims has ended (instant revocation,
   * docs/broker.md "Instant revocation"): synchronous while the answer is known
   * locally. Absent when the mode does not check.
   */
  sessionRevoked?: ((claims: IDToken) => boolean | Promise<boolean>) | undefined;
  /** Keys and metadata to serve; absent when the mode publishes none. */
  publication?: Publication;
  /** Revocation, introspection and back-channel logout; absent when the mode keeps no sessions. */
  lifecycle?: SessionLifecycle;
  /** Makes each login state single-use across instances, where the mode has a shared store. */
  usedOnce?: UsedOnceRegistry;
  /** Opens what the mode needs (a store) now; throws an error naming what failed. */
  ready?(): Promise<void>;
  /** Closes what the mode opened (connections, timers). */
  close?(): Promise<void>;
}
