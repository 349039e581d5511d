/**
 * The guards behind every adapter's `required()` and `optional()` (README
 * "Guards"), and the bearer check they share with /userinfo: a token seen
 * before costs one hash and one lookup (token-cache.ts); any other is
 * verified in full by the token mode.
 */
import { bearerToken } from "./bearer.ts";
import { compileRequirement, type IDToken, type Requirement, unmetRequirement } from "./claims.ts";
import { type AuthError, badRequest, forbidden, missingToken } from "./errors.ts";
import { type AuthResponse, type BrowserRequest, errorResponse } from "./http.ts";
import { keyRemovalEpoch } from "./keyset.ts";
import type { ResolvedOptions } from "./options.ts";
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

export type Guard = (
  authorization: string | undefined,
  browser?: BrowserRequest,
) => Promise<GuardOutcome>;

const ANONYMOUS: GuardOutcome = Object.freeze({ kind: "anonymous" });

/** Verifies the bearer token of an `Authorization` value, remembering verified ones. */
export class BearerCheck {
  private readonly cache: TokenCache | undefined;

  constructor(
    private readonly verify: (token: string) => Promise<IDToken>,
    options: ResolvedOptions,
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
   * The claims of a token verified before, if the cache still holds them,
   * without an await. The key is the SHA-256 of the whole `Authorization`
   * value: the token in it was verified, and the same value always yields
   * the same token.
   */
  cached(authorization: string): IDToken | undefined {
    const key = this.cache?.hash(authorization);
    return typeof key === "string" ? this.cache?.get(key) : undefined;
  }

  /**
   * The claims from the cache, else verified and remembered; 401 for a
   * missing or malformed token, 400 for repeated `Authorization` headers.
   */
  async claims(authorization: string | undefined): Promise<IDToken> {
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
): Guard {
  const compiled = compileRequirement(requirement, options.claims);
  // optional() lets a caller without acceptable credentials through; a bad request or an outage it does not.
  const refuse = (error: AuthError): GuardOutcome =>
    optional && (error.status === 401 || error.status === 403)
      ? ANONYMOUS
      : { kind: "denied", response: errorResponse(error) };
  return async (authorization) => {
    if (authorization === undefined) return optional ? ANONYMOUS : refuse(missingToken());
    // The hot path: a token verified before costs one hash and one lookup, and no await here.
    let claims = bearer.cached(authorization);
    if (claims === undefined) {
      try {
        claims = await bearer.claims(authorization);
      } catch (error) {
        return refuse(toAuthError(error));
      }
    }
    const unmet = unmetRequirement(claims, compiled);
    return unmet === undefined ? { kind: "token", token: claims } : refuse(forbidden(unmet));
  };
}
