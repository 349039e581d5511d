/**
 * The core's configuration: the camelCase of py-oidc-auth's names (README
 * "Configuration") plus what security needs. `resolveOptions` checks
 * everything once, at construction, so nothing on a request path parses
 * configuration again. Broker mode's options are the broker's own
 * (broker/options.ts).
 */
import { type ClaimConstraints, checkClaimConstraints } from "./claims.ts";
import { consoleLogger, type Logger, type ResolvedLogger, resolveLogger } from "./log.ts";

export interface CoreOptions {
  /** The client id registered at the IdP. */
  clientId: string;
  /** The client secret; absent for a public client. */
  clientSecret?: string;
  /** The IdP's discovery document, e.g. `https://idp/realms/x/.well-known/openid-configuration`. May be an internal URL. */
  discoveryUrl: string;
  /** Space-separated scopes requested at login besides `openid`. Default `"profile email"`. */
  scopes?: string;
  /** The `aud` that access tokens must carry. Default: the client id. */
  audience?: string;
  /** Claim constraints of every guard that names none of its own (README "Guards"). */
  claims?: ClaimConstraints;
  /** The public base URL of the app (e.g. behind a reverse proxy). */
  proxy?: string;
  /** Ask for `offline_access` (a refresh token) at login unless the client says otherwise. Default true. */
  offlineAccess?: boolean;
  /** Timeout of each call to the IdP in milliseconds. Default 10000. */
  timeoutMs?: number;
  /** Override of the JWKS URL from discovery (e.g. an internal address). */
  jwksUri?: string;
  /** Override of the issuer from discovery: the `iss` tokens must carry (the IdP's public URL). */
  issuer?: string;
  /** Names the app, e.g. for the default broker store location. Default `"ts-oidc-auth"`. */
  appName?: string;
  /**
   * Where `/login` may send the user back to and `/logout` may redirect to:
   * exact URLs, and for loopback URLs (127.0.0.1, [::1], localhost) any port,
   * as native clients need (RFC 8252 §7.3). Without it every URI is allowed,
   * with a warning at start-up.
   */
  allowedRedirectUris?: string[];
  /**
   * Secret (at least 32 bytes of entropy) that seals login state and
   * encrypts stored tokens. Without it a random per-process key is used, with
   * a warning at start-up.
   */
  secret?: string | Uint8Array;
  /** Clock skew accepted on `exp`, `nbf` and `iat`, in seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** Signature algorithms accepted on bearer tokens. Default: RS, PS and ES families and EdDSA. */
  algorithms?: string[];
  /**
   * Longest wait between JWKS fetches for unknown `kid`s after failed
   * fetches (the wait doubles from 1 s up to this), in milliseconds; a value
   * under 1000 also lowers the 1 s minimum between two such fetches.
   * Default 30000. See README "Guards" for the bounds.
   */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is trusted before it is fetched again, in milliseconds. Default 600000. */
  jwksMaxAgeMs?: number;
  /**
   * How many verified tokens the guards remember, so that a token seen again
   * is not verified again (least recently used out first). 0 switches the
   * cache off. Default 10000.
   */
  tokenCacheSize?: number;
  /**
   * Longest time a remembered token is accepted without being verified
   * again, in milliseconds (never past its `exp`, nor past `jwksMaxAgeMs`
   * after the fetch of the keys that verified it). Default 60000.
   */
  tokenCacheMaxAgeMs?: number;
  /** Lifetime of a login (from `/login` to the code exchange) in seconds. Default 600. */
  loginTimeoutSeconds?: number;
  /** Largest request body accepted, in bytes. Default 16384. */
  maxBodyBytes?: number;
  /**
   * Receives debug, info, warning and error messages, with structured
   * fields as a second argument (README "Logging"): `console`, winston, or
   * a pino instance (called object first, as pino wants). Default: warnings
   * and errors to the console.
   */
  logger?: Logger;
}

export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

export type ResolvedOptions = ReturnType<typeof resolveOptions>;

export class ConfigurationError extends Error {
  constructor(option: string, problem: string) {
    super(`ts-oidc-auth: invalid option "${option}": ${problem}`);
    this.name = "ConfigurationError";
  }
}

/**
 * Every option's name, checked by the compiler against `CoreOptions`: a
 * name missing here, or one that is no option, does not compile.
 */
export const CORE_OPTION_NAMES = {
  clientId: true,
  clientSecret: true,
  discoveryUrl: true,
  scopes: true,
  audience: true,
  claims: true,
  proxy: true,
  offlineAccess: true,
  timeoutMs: true,
  jwksUri: true,
  issuer: true,
  appName: true,
  allowedRedirectUris: true,
  secret: true,
  clockToleranceSeconds: true,
  algorithms: true,
  jwksCooldownMs: true,
  jwksMaxAgeMs: true,
  tokenCacheSize: true,
  tokenCacheMaxAgeMs: true,
  loginTimeoutSeconds: true,
  maxBodyBytes: true,
  logger: true,
} as const satisfies Record<keyof CoreOptions, true>;

/**
 * Checks the core's options; `otherNames` are the options of whoever else
 * reads the same object (broker mode), which are theirs to check.
 */
export function resolveOptions(options: CoreOptions, otherNames: readonly string[] = []) {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError("options", "expected an object");
  }
  // A misspelt option would otherwise be ignored in silence.
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(CORE_OPTION_NAMES, key) && !otherNames.includes(key)) {
      throw new ConfigurationError(key, "unknown option");
    }
  }
  const algorithms = options.algorithms ?? [...ASYMMETRIC_ALGORITHMS];
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigurationError("algorithms", `"${alg}" is not an allowed asymmetric algorithm`);
    }
  }
  const clientId = nonEmptyString(options.clientId, "clientId");
  return {
    clientId,
    clientSecret:
      options.clientSecret === undefined
        ? undefined
        : nonEmptyString(options.clientSecret, "clientSecret"),
    discoveryUrl: httpUrl(options.discoveryUrl, "discoveryUrl"),
    scopes: (options.scopes ?? "profile email").split(/\s+/).filter(Boolean),
    audience:
      options.audience === undefined ? clientId : nonEmptyString(options.audience, "audience"),
    claims: claimConstraints(options.claims ?? {}),
    proxy: options.proxy === undefined ? undefined : httpUrl(options.proxy, "proxy"),
    offlineAccess: options.offlineAccess ?? true,
    timeoutMs: positive(options.timeoutMs ?? 10_000, "timeoutMs"),
    jwksUri: options.jwksUri === undefined ? undefined : httpUrl(options.jwksUri, "jwksUri"),
    issuer: options.issuer === undefined ? undefined : nonEmptyString(options.issuer, "issuer"),
    appName: nonEmptyString(options.appName ?? "ts-oidc-auth", "appName"),
    allowedRedirectUris: options.allowedRedirectUris?.map(
      (uri) => httpUrl(uri, "allowedRedirectUris").href,
    ),
    secret: options.secret === undefined ? undefined : secretBytes(options.secret),
    clockToleranceSeconds: nonNegative(
      options.clockToleranceSeconds ?? 30,
      "clockToleranceSeconds",
    ),
    algorithms,
    jwksCooldownMs: nonNegative(options.jwksCooldownMs ?? 30_000, "jwksCooldownMs"),
    jwksMaxAgeMs: positive(options.jwksMaxAgeMs ?? 600_000, "jwksMaxAgeMs"),
    tokenCacheSize: count(options.tokenCacheSize ?? 10_000, "tokenCacheSize"),
    tokenCacheMaxAgeMs: positive(options.tokenCacheMaxAgeMs ?? 60_000, "tokenCacheMaxAgeMs"),
    loginTimeoutSeconds: positive(options.loginTimeoutSeconds ?? 600, "loginTimeoutSeconds"),
    maxBodyBytes: positive(options.maxBodyBytes ?? 16_384, "maxBodyBytes"),
    logger: logger(options.logger ?? consoleLogger),
  };
}

function logger(value: unknown): ResolvedLogger {
  const resolved = resolveLogger(value);
  if (typeof resolved === "string") throw new ConfigurationError("logger", resolved);
  return resolved;
}

function claimConstraints(claims: unknown): ClaimConstraints {
  try {
    checkClaimConstraints(claims, "claims");
  } catch (error) {
    throw new ConfigurationError("claims", (error as Error).message.replace(/^claims: /, ""));
  }
  return claims;
}

export function nonEmptyString(value: unknown, option: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigurationError(option, "expected a non-empty string");
  }
  return value;
}

export function httpUrl(value: unknown, option: string): URL {
  const text = nonEmptyString(value, option);
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.protocol !== "https:" && url?.protocol !== "http:") {
    throw new ConfigurationError(option, "expected an http(s) URL");
  }
  return url;
}

export function positive(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(option, "expected a positive number");
  }
  return value;
}

export function nonNegative(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(option, "expected a number of at least 0");
  }
  return value;
}

export function count(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError(option, "expected a whole number of at least 0");
  }
  return value;
}

function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 32) {
    throw new ConfigurationError(
      "secret",
      "expected at least 32 bytes (e.g. 32 random bytes, base64)",
    );
  }
  return bytes;
}
