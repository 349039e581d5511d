/**
 * The guards behind every adapter's `required()` and `optional()` (README
 * "Guards"), and the bearer check they share with /userinfo: a token seen
 * before costs one hash and one lookup (token-cache.ts); any other is
 * verified in full by the token mode.
 */
import { bearerToken } from "./bearer.ts";
import { compileRequirement, type IDToken, type Requirement, unmetRequirement } from "./claims.ts";
import { type AuthError, badRequest, forbidden, missingToken, unauthorized } from "./errors.ts";
import { type AuthResponse, type BrowserRequest, errorResponse } from "./http.ts";
import { keyRemovalEpoch } from "./keyset.ts";
import type { ResolvedOptions } from "./options.ts";
import { type RequestOrigin, withResourceMetadata } from "./resource-metadata.ts";
import type { BrowserSession } from "./session/guard.ts";
import { TokenCache } from "./token-cache.ts";

/**
 * What a guard decided about one request. A browser session (session/guard.ts)
 * adds itself and the `Set-Cookie` values that renew or clear it.
 */
export type GuardOutcome =
  | { kind: "token"; token: IDToken; session?: BrowserSession; cookies?: string[] }
  | { kind: "anonymous"; cookies?: string[] }
  | { kind: "denied"; response: AuthResponse };

/**
 * Checks one request's `Authorization` value (undefined: none was sent).
 * `origin` gives the request's origin, read only for a 401's
 * `resource_metadata` (RFC 9728 §5.1); `browser` the parts of a browser's
 * request, read only when browser sessions are on and no bearer token was
 * sent. A plain value when it could be decided without an await (a cached
 * token, or one the synchronous fast path verified), so that adapters can go
 * on without a promise; else a promise.
 */
export type Guard = (
  authorization: string | undefined,
  origin?: RequestOrigin,
  browser?: () => BrowserRequest,
) => GuardOutcome | Promise<GuardOutcome>;

const ANONYMOUS: GuardOutcome = Object.freeze({ kind: "anonymous" });

/** What the token mode offers the bearer check beyond `verify`. */
export interface BearerHooks {
  /** `verify` without an await where it can answer now (token-mode.ts `verifyNow`). */
  verifyNow?: (token: string) => IDToken | undefined;
  /** The token mode's revocation check, read on every request (see `TokenMode.sessionRevoked`). */
  sessionRevoked?: (claims: IDToken) => boolean | Promise<boolean>;
}

/** Verifies the bearer token of an `Authorization` value, remembering verified ones. */
export class BearerCheck {
  private readonly cache: TokenCache | undefined;

  constructor(
    private readonly verify: (token: string) => Promise<IDToken>,
    options: ResolvedOptions,
    private readonly hooks: BearerHooks = {},
  ) {
    this.cache =
      options.tokenCacheSize > 0
        ? new TokenCache({
            maxEntries: options.tokenCacheSize,
            maxAgeMs: options.tokenCacheMaxAgeMs,
            clockToleranceSeconds: options.clockToleranceSeconds,
          })
        : undefined;
  }

  /**
   * The claims without an await: from the cache, else verified by the
   * synchronous fast path and remembered. Undefined when neither can answer
   * (`claims` then decides, errors included).
   */
  now(authorization: string): IDToken | undefined {
    const claims = this.verifiedNow(authorization);
    const { sessionRevoked } = this.hooks;
    if (claims === undefined || sessionRevoked === undefined) return claims;
    // Only a session known locally to be live passes here; any other goes the slow way (`claims`),
    // which awaits the same store call (a failure is answered there, not left unhandled here).
    const revoked = sessionRevoked(claims);
    if (revoked === false) return claims;
    if (revoked !== true) revoked.catch(() => {});
    return undefined;
  }

  private verifiedNow(authorization: string): IDToken | undefined {
    const cache = this.cache;
    const key = cache?.hash(authorization);
    if (typeof key === "string") {
      const cached = cache?.get(key);
      if (cached !== undefined) return cached;
    }
    const { verifyNow } = this.hooks;
    if (verifyNow === undefined || authorization.includes(",")) return undefined;
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    const startedAt = Date.now();
    const epoch = keyRemovalEpoch();
    const claims = verifyNow(token);
    if (claims === undefined || cache === undefined || typeof key !== "string") return claims;
    return cache.set(key, claims, startedAt, epoch);
  }

  /**
   * The claims from the cache, else verified and remembered; 401 for a
   * missing or malformed token, 400 for repeated `Authorization` headers.
   */
  async claims(authorization: string | undefined): Promise<IDToken> {
    const claims = await this.verifiedClaims(authorization);
    const { sessionRevoked } = this.hooks;
    if (sessionRevoked !== undefined && (await sessionRevoked(claims))) {
      throw unauthorized("The session of this token has ended; log in again.");
    }
    return claims;
  }

  private async verifiedClaims(authorization: string | undefined): Promise<IDToken> {
    // Repeated headers arrive joined with a comma (RFC 9110 §5.3), which no b64token holds (RFC 6750 §2.1).
    if (authorization?.includes(","))
      throw badRequest("Send one Authorization header, not several.");
    const token = bearerToken(authorization);
    if (token === undefined || authorization === undefined) throw missingToken();
    const cache = this.cache;
    if (cache === undefined) return this.verify(token);
    const key = await cache.hash(authorization);
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    // Taken before the verification, so that nothing that happens meanwhile extends the entry.
    const startedAt = Date.now();
    const epoch = keyRemovalEpoch();
    return cache.set(key, await this.verify(token), startedAt, epoch);
  }
}

/**
 * A guard for `required()` (optional false) or `optional()` (true). The
 * requirement is compiled here, once, not per request.
 */
export function createGuard(
  bearer: BearerCheck,
  requirement: Requirement,
  options: ResolvedOptions,
  optional: boolean,
  toAuthError: (error: unknown) => AuthError,
  metadataUrl: (origin: RequestOrigin | undefined) => string | undefined,
): Guard {
  const compiled = compileRequirement(requirement, options.claims);
  // optional() lets a caller without acceptable credentials through; a bad request or an outage it does not.
  const refusal = (error: AuthError, origin: RequestOrigin | undefined): GuardOutcome => {
    if (optional && (error.status === 401 || error.status === 403)) return ANONYMOUS;
    const response = errorResponse(error);
    const challenge = response.headers["www-authenticate"];
    if (challenge !== undefined) {
      response.headers["www-authenticate"] = withResourceMetadata(challenge, metadataUrl(origin));
    }
    return { kind: "denied", response };
  };
  const decide = (claims: IDToken, origin: RequestOrigin | undefined): GuardOutcome => {
    const unmet = unmetRequirement(claims, compiled);
    return unmet === undefined
      ? { kind: "token", token: claims }
      : refusal(forbidden(unmet), origin);
  };
  return (authorization, origin) => {
    if (authorization === undefined) return optional ? ANONYMOUS : refusal(missingToken(), origin);
    // The hot path, without a promise: a token verified before costs one hash and one
    // lookup; a new one the synchronous fast path verifies costs little more than its signature.
    const claims = bearer.now(authorization);
    if (claims !== undefined) return decide(claims, origin);
    return bearer.claims(authorization).then(
      (verified) => decide(verified, origin),
      (error: unknown) => refusal(toAuthError(error), origin),
    );
  };
}
