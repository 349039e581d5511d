/**
 * The logout token of OpenID Connect Back-Channel Logout 1.0, validated as
 * its §2.6 says: the IdP's signature (an allowed asymmetric `alg`, never
 * `none`), `iss` = the IdP, `aud` = this client, `iat` (and `exp` when
 * present), a `jti`, an `events` member holding the back-channel-logout
 * event, `sub` and/or `sid`, no `nonce`, and `typ` `logout+jwt` when a `typ`
 * is present (§2.4). Every failure is a 400 (§2.8) whose text names the
 * rule, never the token; only unreachable IdP keys are a 503.
 */
import { type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";
import { AuthError, badRequest, unavailable } from "./errors.ts";
import { KeysUnavailable } from "./keyset.ts";

export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/**
 * How old (by `iat`) a logout token may be, in seconds, besides the clock
 * tolerance. IdPs send them at once (oidc-provider gives them 120 s), so a
 * token older than this is a replay, and its `jti` need not be remembered
 * longer.
 */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;

export interface LogoutTokenRules {
  issuer: string;
  getKey: JWTVerifyGetKey;
  /** The `aud` it must carry: the client id at the IdP. */
  clientId: string;
  algorithms: string[];
  clockToleranceSeconds: number;
}

/** What a valid logout token says: whose sessions end, and what identifies it for replay checks. */
export interface LogoutToken {
  iss: string;
  jti: string;
  sub?: string;
  sid?: string;
  /** Until when a replay of this token must be recognised (unix seconds). */
  replayableUntil: number;
}

const invalid = (why: string) => badRequest(`The logout_token is invalid: ${why}.`);

export async function verifyLogoutToken(
  token: string,
  rules: LogoutTokenRules,
): Promise<LogoutToken> {
  let verified: Awaited<ReturnType<typeof jwtVerify>>;
  try {
    verified = await jwtVerify(token, rules.getKey, {
      issuer: rules.issuer,
      audience: rules.clientId,
      algorithms: rules.algorithms,
      clockTolerance: rules.clockToleranceSeconds,
      maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
      requiredClaims: ["iat", "jti"],
    });
  } catch (error) {
    throw verificationError(error);
  }
  const { payload, protectedHeader } = verified;
  // §2.4: explicitly typed tokens are `logout+jwt` (RFC 8725 §3.11: compared case-insensitively, `application/` optional).
  const typ = protectedHeader.typ?.toLowerCase().replace(/^application\//, "");
  if (protectedHeader.typ !== undefined && typ !== "logout+jwt") {
    throw invalid('its "typ" is not logout+jwt');
  }
  const events = payload.events;
  const event = isObject(events) ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (!isObject(event)) throw invalid("it carries no back-channel logout event");
  if ("nonce" in payload) throw invalid("it carries a nonce");
  const { sub, sid, jti, iat, exp } = payload;
  if (sub !== undefined && !nonEmptyString(sub)) throw invalid('its "sub" is not a string');
  if (sid !== undefined && !nonEmptyString(sid)) throw invalid('its "sid" is not a string');
  if (sub === undefined && sid === undefined) throw invalid("it names neither sub nor sid");
  if (!nonEmptyString(jti)) throw invalid('its "jti" is not a string');
  const issuedAt = iat ?? 0;
  return {
    iss: rules.issuer,
    jti,
    ...(sub === undefined ? {} : { sub }),
    ...(sid === undefined ? {} : { sid }),
    replayableUntil:
      Math.max(exp ?? 0, issuedAt + LOGOUT_TOKEN_MAX_AGE_SECONDS) + rules.clockToleranceSeconds,
  };
}

function verificationError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof KeysUnavailable) {
    return unavailable("The identity provider's keys cannot be loaded; try again shortly.");
  }
  if (error instanceof joseErrors.JWTExpired) return invalid("it has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return invalid(`its "${error.claim}" claim is not acceptable`);
  }
  // Bad signature, unknown kid, disallowed alg, malformed token, unusable key.
  return invalid("its signature or format is not acceptable");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}
