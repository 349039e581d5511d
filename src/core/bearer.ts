/**
 * Bearer-token validation (SPEC §4): jose's `jwtVerify` against the IdP's
 * JWKS, which jose caches and refetches on an unknown `kid` no more often
 * than the cooldown. Only asymmetric algorithms from the allow-list are
 * accepted, so `none` and HMAC-with-a-public-key cannot pass.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";
import type { IDToken } from "./claims.ts";
import { type AuthError, unauthorized, unavailable } from "./errors.ts";
import type { IdentityProvider } from "./idp.ts";
import { RetryingLazy } from "./lazy.ts";
import { describeError } from "./log.ts";
import type { ResolvedOptions } from "./options.ts";

/** RFC 6750 b64token after the scheme, e.g. `Bearer eyJ...`. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER.exec(authorization)?.[1];
}

export interface VerifierSettings {
  issuer: string;
  jwks: JWTVerifyGetKey;
}

export class TokenVerifier {
  private readonly settings: RetryingLazy<VerifierSettings>;

  constructor(
    idp: IdentityProvider,
    private readonly options: ResolvedOptions,
  ) {
    this.settings = new RetryingLazy(async () => ({
      issuer: await idp.issuer(),
      jwks: separateFetchFailures(
        createRemoteJWKSet(await idp.jwksUri(), {
          timeoutDuration: options.timeoutMs,
          cooldownDuration: options.jwksCooldownMs,
          cacheMaxAge: options.jwksMaxAgeMs,
        }),
      ),
    }));
  }

  /** The token's claims, or an AuthError: 401 for a bad token, 503 when keys cannot be had. */
  async verify(token: string): Promise<IDToken> {
    const settings = this.settings.current ?? (await this.loadSettings());
    try {
      const { payload } = await jwtVerify(token, settings.jwks, {
        issuer: settings.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ["exp", "sub"],
      });
      return payload as IDToken;
    } catch (error) {
      throw this.translate(error);
    }
  }

  private async loadSettings(): Promise<VerifierSettings> {
    try {
      return await this.settings.get();
    } catch (error) {
      if ((error as AuthError).status === 503) throw error;
      throw unavailable("The identity provider's keys cannot be loaded; try again shortly.");
    }
  }

  private translate(error: unknown): AuthError {
    if (error instanceof joseErrors.JWTExpired) return unauthorized("The token has expired.");
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      return unauthorized(`The token's "${error.claim}" claim is not acceptable.`);
    }
    if (error instanceof KeysUnavailable) return this.keysUnavailable(error.cause);
    // Bad signature, unknown kid, disallowed alg, malformed token.
    if (error instanceof joseErrors.JOSEError) return unauthorized("The token is invalid.");
    return this.keysUnavailable(error);
  }

  private keysUnavailable(error: unknown): AuthError {
    this.options.logger.error(`Fetching the IdP's JWKS failed: ${describeError(error)}`);
    return unavailable("The identity provider's keys cannot be loaded; try again shortly.");
  }
}

/** A JWKS fetch failed: the IdP's fault, not the token's (503, not 401). */
class KeysUnavailable extends Error {}

/**
 * jose reports a failed JWKS fetch with the same error classes as a bad
 * token; tell them apart where the fetch happens.
 */
function separateFetchFailures(remote: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys ||
        error instanceof joseErrors.JOSENotSupported
      ) {
        throw error;
      }
      throw new KeysUnavailable("JWKS unavailable", { cause: error });
    }
  };
}
