/**
 * The token JSON clients read (README "Endpoints"): py-oidc-auth's `expires`
 * and `refresh_expires` (unix seconds) plus the standard `expires_in`
 * (RFC 6749 §5.1).
 */
import { decodeJwt } from "jose";
import type { TokenSet } from "./idp.ts";
import { nowSeconds } from "./time.ts";

export interface TokenResponseBody {
  access_token: string;
  token_type: "Bearer";
  /** Expiry of the access token, unix seconds. */
  expires: number;
  expires_in: number;
  refresh_token?: string;
  /** Expiry of the refresh token, unix seconds, when known. */
  refresh_expires?: number;
  scope?: string;
  id_token?: string;
}

/** The token JSON for an IdP token response; optional fields may be absent. */
export function tokenResponseBody(tokens: TokenSet, now = nowSeconds()): TokenResponseBody {
  const expires = numberField(tokens.expires_in, now) ?? jwtExpiry(tokens.access_token) ?? now;
  const body: TokenResponseBody = {
    access_token: tokens.access_token,
    token_type: "Bearer",
    expires,
    expires_in: Math.max(0, expires - now),
  };
  if (tokens.refresh_token) {
    body.refresh_token = tokens.refresh_token;
    const refreshExpires =
      numberField(tokens.refresh_expires_in, now) ?? jwtExpiry(tokens.refresh_token);
    if (refreshExpires !== undefined) body.refresh_expires = refreshExpires;
  }
  if (typeof tokens.scope === "string") body.scope = tokens.scope;
  if (tokens.id_token) body.id_token = tokens.id_token;
  return body;
}

function numberField(secondsFromNow: unknown, now: number): number | undefined {
  return typeof secondsFromNow === "number" && secondsFromNow > 0
    ? now + secondsFromNow
    : undefined;
}

/** `exp` of a JWT without verifying it: only to tell the client when to refresh. */
function jwtExpiry(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" ? exp : undefined;
  } catch {
    return undefined;
  }
}
