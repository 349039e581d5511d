/**
 * The token the client keeps and hands out: the token JSON of py-oidc-auth
 * servers (`expires` and `refresh_expires` in unix seconds) plus a ready
 * `Authorization` header, as py-oidc-auth-client returns it.
 */
import { nowSeconds } from "../core/time.ts";
import { AuthClientError } from "./errors.ts";

export { nowSeconds };

export interface StoredToken {
  access_token: string;
  token_type: string;
  /** Expiry of the access token, unix seconds; 0 when unknown (an opaque token from the environment). */
  expires: number;
  refresh_token?: string;
  /** Expiry of the refresh token, unix seconds; absent when the server did not say. */
  refresh_expires?: number;
  scope?: string;
}

export interface Token extends StoredToken {
  /** Ready to send: `{ Authorization: "Bearer <access token>" }`. */
  headers: { Authorization: string };
}

/**
 * Reads a token endpoint answer. Servers differ in what they add: py-oidc-auth
 * and ts-oidc-auth send `expires` / `refresh_expires`, plain OAuth servers
 * `expires_in` / `refresh_expires_in`; every one of them is optional but the token.
 */
export function tokenFromResponse(body: Record<string, unknown>, now = nowSeconds()): StoredToken {
  const accessToken = body.access_token;
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new AuthClientError("The server's token answer has no access_token.");
  }
  const token: StoredToken = {
    access_token: accessToken,
    token_type: normalTokenType(body.token_type),
    expires: absolute(body.expires, body.expires_in, now) ?? jwtExpiry(accessToken) ?? now,
  };
  if (typeof body.refresh_token === "string" && body.refresh_token !== "") {
    token.refresh_token = body.refresh_token;
    const refreshExpires = absolute(body.refresh_expires, body.refresh_expires_in, now);
    if (refreshExpires !== undefined) token.refresh_expires = refreshExpires;
  }
  if (typeof body.scope === "string") token.scope = body.scope;
  return token;
}

/** A token from the environment: all there is to know is in the token itself, if anything. */
export function tokenFromAccessToken(accessToken: string): StoredToken {
  return { access_token: accessToken, token_type: "Bearer", expires: jwtExpiry(accessToken) ?? 0 };
}

export function withHeaders(token: StoredToken): Token {
  return { ...token, headers: { Authorization: `${token.token_type} ${token.access_token}` } };
}

/** `exp` of a JWT, unverified: only to know when to refresh. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const exp = typeof claims === "object" && claims !== null ? Reflect.get(claims, "exp") : 0;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

function absolute(at: unknown, inSeconds: unknown, now: number): number | undefined {
  if (typeof at === "number" && Number.isFinite(at) && at > 0) return Math.floor(at);
  if (typeof inSeconds === "number" && Number.isFinite(inSeconds) && inSeconds > 0) {
    return now + Math.floor(inSeconds);
  }
  return undefined;
}

/** Some servers say `bearer`; RFC 6750 headers say `Bearer`. */
function normalTokenType(value: unknown): string {
  if (typeof value !== "string" || value === "" || /^bearer$/i.test(value)) return "Bearer";
  return value;
}
