/**
 * Bearer-token validation (README "Guards"): jose's `jwtVerify` against the IdP's
 * JWKS, cached and refetched on an unknown `kid` no more often than the
 * cooldown (see keyset.ts). Only asymmetric algorithms from the allow-list are
 * accepted, so `none` and HMAC-with-a-public-key cannot pass. On Node.js,
 * RS256, ES256 and EdDSA signatures are checked with `node:crypto` where
 * that path can vouch for the whole token (fast-verify.ts); jose decides
 * everything else.
 * Whatever goes wrong while checking a token is a 401, never a 500: a key
 * jose refuses to use (an RSA key under 2048 bits, a malformed EC key in the
 * IdP's or a peer's JWKS) included. Tokens that are not JWTs, or not meant
 * for the app to parse, go to the IdP's introspection endpoint instead when
 * `idpAccessTokens` says so (introspection.ts).
 */
import { type JWTVerifyGetKey, type JWTVerifyOptions, errors as joseErrors, jwtVerify } from "jose";
import type { IDToken } from "./claims.ts";
import { AuthError, unauthorized, unavailable } from "./errors.ts";
import { canonicalSegments, fastVerify, fastVerifyNow, type KeysNow } from "./fast-verify.ts";
import type { IdentityProvider } from "./idp.ts";
import { IntrospectionCheck } from "./introspection.ts";
import { fetchJwks, KeysUnavailable, noteVerifiedWith, RefreshingKeySet } from "./keyset.ts";
import { Lazy, NETWORK_BACKOFF } from "./lazy.ts";
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
  keys: RefreshingKeySet;
  /** jose's options for every token, built once. */
  verifyOptions: JWTVerifyOptions;
}

export class TokenVerifier {
  private readonly settings: Lazy<VerifierSettings>;
  /** Asks the IdP about tokens that are not to be verified as JWTs (`idpAccessTokens`). */
  private readonly introspection: IntrospectionCheck | undefined;

  constructor(idp: IdentityProvider, options: ResolvedOptions) {
    this.introspection =
      options.idpAccessTokens === "jwt" ? undefined : new IntrospectionCheck(idp, options);
    const timing = { cooldownMs: options.jwksCooldownMs, maxAgeMs: options.jwksMaxAgeMs };
    const logFailure = (error: unknown) =>
      options.logger.error(`Fetching the IdP's JWKS failed: ${describeError(error)}`);
    const logWarning = (message: string) => options.logger.warn(`The IdP's JWKS: ${message}`);
    this.settings = new Lazy(async () => {
      const jwksUri = await idp.jwksUri();
      const issuer = await idp.issuer();
      return {
        issuer,
        keys: new RefreshingKeySet(
          () => fetchJwks(jwksUri, options.timeoutMs),
          timing,
          logFailure,
          logWarning,
        ),
        verifyOptions: verifyOptions({
          issuer,
          audience: options.audience,
          algorithms: options.algorithms,
          clockTolerance: options.clockToleranceSeconds,
        }),
      };
    }, NETWORK_BACKOFF);
  }

  /** The token's claims, or an AuthError: 401 for a bad token, 503 when keys cannot be had. */
  async verify(token: string): Promise<IDToken> {
    if (this.introspection?.handles(token)) return this.introspection.claims(token);
    const settings = this.settings.current ?? (await this.loadSettings());
    return verifyJwt(token, settings.keys.getKey, settings.verifyOptions);
  }

  /** `verify` without an await where the fast path can answer now (see `verifyJwtNow`); else undefined. */
  verifyNow(token: string): IDToken | undefined {
    const settings = this.settings.current;
    return settings === undefined
      ? undefined
      : verifyJwtNow(token, settings.keys, settings.verifyOptions);
  }

  /**
   * The IdP's issuer and key resolver, for the other JWTs it signs (the
   * logout tokens of back-channel logout): the same cached, refreshing key
   * set that checks its access tokens.
   */
  async idpKeys(): Promise<{ issuer: string; getKey: JWTVerifyGetKey }> {
    const settings = this.settings.current ?? (await this.loadSettings());
    return { issuer: settings.issuer, getKey: settings.keys.getKey };
  }

  private async loadSettings(): Promise<VerifierSettings> {
    try {
      return await this.settings.get();
    } catch (error) {
      if ((error as AuthError).status === 503) throw error;
      throw unavailable("The identity provider's keys cannot be loaded; try again shortly.");
    }
  }
}

/** The options `verifyJwt` wants, built once per verifier: `exp` and `sub` are required. */
export function verifyOptions(options: JWTVerifyOptions): JWTVerifyOptions {
  return { ...options, requiredClaims: ["exp", "sub"] };
}

/**
 * jose's `jwtVerify` with every failure mapped: 401 for anything wrong with
 * the token, 503 when no keys could be had to check it. `options` come from
 * `verifyOptions`. The claims are noted with the key that verified them
 * (see `keysTrustedUntil`), so that the token cache honours that key no
 * longer than its key set does.
 */
export async function verifyJwt(
  token: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<IDToken> {
  // One accepted spelling per token: jose would also decode padded or
  // non-canonical base64url to the same bytes (see canonicalSegments).
  if (canonicalSegments(token) === undefined) throw unauthorized("The token is invalid.");
  let usedKey: unknown;
  const resolve: JWTVerifyGetKey = async (header, input) => {
    usedKey = await keys(header, input);
    return usedKey as Awaited<ReturnType<JWTVerifyGetKey>>;
  };
  // On Node.js, tokens that it can vouch for skip jose (see fast-verify.ts).
  const claims =
    (await fastVerify(token, resolve, options)) ?? (await joseVerify(token, resolve, options));
  requireSubject(claims);
  noteVerifiedWith(claims, usedKey);
  return claims;
}

/**
 * `verifyJwt` without an await, for the guards' hot path: the claims when
 * the synchronous fast path vouches for the token in full (fast-verify.ts,
 * `fastVerifyNow`) and they pass the same checks as there; undefined
 * otherwise, never an error: then `verifyJwt` decides and words it.
 */
export function verifyJwtNow(
  token: string,
  keys: KeysNow,
  options: JWTVerifyOptions,
): IDToken | undefined {
  const segments = canonicalSegments(token);
  if (segments === undefined) return undefined;
  const verified = fastVerifyNow(token, segments, keys, options);
  if (verified === undefined || !hasSubject(verified.claims)) return undefined;
  noteVerifiedWith(verified.claims, verified.key);
  return verified.claims;
}

async function joseVerify(
  token: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<IDToken> {
  try {
    const { payload } = await jwtVerify(token, keys, options);
    return payload as IDToken;
  } catch (error) {
    throw verificationError(error);
  }
}

/** The AuthError for a failed `jwtVerify`: 503 only when no keys could be had. */
function verificationError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof KeysUnavailable) {
    return unavailable("The keys to check this token cannot be loaded; try again shortly.");
  }
  if (error instanceof joseErrors.JWTExpired) return unauthorized("The token has expired.");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return unauthorized(`The token's "${error.claim}" claim is not acceptable.`);
  }
  // Bad signature, unknown kid, disallowed alg, malformed token, and the
  // TypeErrors and DOMExceptions of keys jose or Web Crypto will not use.
  return unauthorized("The token is invalid.");
}

/**
 * `sub` must be a non-empty string (RFC 7519 §4.1.2: a StringOrURI); jose
 * only checks that it is present. Guards and the broker read it as the user.
 */
function requireSubject(claims: IDToken): void {
  if (!hasSubject(claims)) throw unauthorized('The token\'s "sub" claim is not acceptable.');
}

function hasSubject(claims: IDToken): boolean {
  return typeof claims.sub === "string" && claims.sub !== "";
}
