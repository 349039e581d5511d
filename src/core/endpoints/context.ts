/**
 * What an endpoint may use: the configuration, the IdP, the token mode
 * (passthrough or broker), and the login-state and redirect rules. Every
 * endpoint is a function of this context and the request.
 */
import type { TokenVerifier } from "../bearer.ts";
import type { IDToken } from "../claims.ts";
import { badRequest } from "../errors.ts";
import type { AuthRequest, AuthResponse } from "../http.ts";
import type { IdentityProvider, TokenSet } from "../idp.ts";
import type { ResolvedOptions } from "../options.ts";
import type { RedirectPolicy } from "../redirects.ts";
import type { ProtectedResource } from "../resource-metadata.ts";
import type { BrowserSessions } from "../session/sessions.ts";
import type { LoginStateSealer } from "../state.ts";
import type { TokenMode } from "../token-mode.ts";

export interface EndpointContext {
  readonly options: ResolvedOptions;
  readonly idp: IdentityProvider;
  readonly mode: TokenMode;
  /** Verifies the IdP's access tokens, whatever the mode (the subject of a token exchange). */
  readonly idpTokens: TokenVerifier;
  readonly loginState: LoginStateSealer;
  readonly redirects: RedirectPolicy;
  /** The RFC 9728 metadata of the protected routes. */
  readonly resource: ProtectedResource;
  /** Browser sessions, when the `browserSessions` option is on. */
  readonly sessions: BrowserSessions | undefined;
  /** The claims of the bearer token in an `Authorization` value, through the guards' cache. */
  verifyBearer(authorization: string | undefined): Promise<IDToken>;
}

export type Endpoint = (context: EndpointContext, request: AuthRequest) => Promise<AuthResponse>;

/** The scopes to ask the IdP for: `openid`, the configured ones, the client's, and `offline_access`. */
export function requestedScope(
  options: ResolvedOptions,
  requested: string | undefined,
  offline: boolean,
): string {
  const scopes = new Set(["openid", ...options.scopes, ...(requested ?? "").split(/\s+/)]);
  if (offline) scopes.add("offline_access");
  scopes.delete("");
  return [...scopes].join(" ");
}

/** OpenID Connect Core §3.1.3.7: the ID token must echo the login's nonce. */
export function checkNonce(tokens: TokenSet, nonce: string): void {
  const claims = tokens.claims();
  if (claims !== undefined && claims.nonce !== nonce) {
    throw badRequest(
      "The ID token does not belong to this login (nonce mismatch).",
      "invalid_grant",
    );
  }
}
