/**
 * Configuration: the camelCase of py-oidc-auth's names (SPEC §2) plus what
 * security needs. `resolveOptions` checks everything once, at construction,
 * so nothing on a request path parses configuration again.
 */
import type { BrokerStore } from "../stores/types.ts";
import type { ClaimConstraints } from "./claims.ts";
import { consoleLogger, type Logger } from "./log.ts";

export interface OIDCAuthOptions {
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
  /** Claim constraints every guard applies on top of its own. */
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
  /** Minimum time between two JWKS fetches for unknown `kid`s, in milliseconds. Default 30000. */
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
   * again, in milliseconds (never past its `exp`): a key withdrawn from the
   * JWKS stops being honoured within this time. Default 60000.
   */
  tokenCacheMaxAgeMs?: number;
  /** Lifetime of a login (from `/login` to the code exchange) in seconds. Default 600. */
  loginTimeoutSeconds?: number;
  /** Largest request body accepted, in bytes. Default 16384. */
  maxBodyBytes?: number;
  /** Receives warnings and errors. Default: the console. */
  logger?: Logger;

  /** Broker mode (SPEC §5): mint the app's own tokens and keep the IdP's refresh tokens in a store. */
  brokerMode?: boolean;
  /** Where the broker keeps keys and sessions, e.g. `postgresql://…` (see the README for every form). Default: a SQLite file in the user's data directory for `appName`. */
  brokerStoreUrl?: string;
  /** An existing store object; wins over `brokerStoreUrl`. */
  brokerStore?: BrokerStore;
  /** The `aud` of minted tokens. Default `"ts-oidc-auth"`. */
  brokerAudience?: string;
  /** The `iss` of minted tokens. Default: `proxy` joined with the router prefix. */
  brokerIssuer?: string;
  /** Peers whose tokens are accepted: an issuer URL (keys at `<issuer><brokerJwksPath>`) or `{ issuer, jwksUri }`. */
  trustedIssuers?: Array<string | { issuer: string; jwksUri: string }>;
  /** Path of the broker's JWKS below the router prefix. Default `/auth/v2/.well-known/jwks.json`. */
  brokerJwksPath?: string;
  /** Signature algorithm of new broker keys. Default `"RS256"`. */
  brokerSigningAlg?: BrokerSigningAlg;
  /** How long a broker signing key signs before the next one takes over. Default 7 days. */
  brokerKeyRotationSeconds?: number;
  /** Lifetime of minted access tokens. Default 600 (at most 900). */
  brokerAccessTokenSeconds?: number;
  /** Longest life of a broker session (its refresh tokens). Default 30 days, shorter when the IdP's refresh token expires sooner. */
  brokerSessionSeconds?: number;
  /** How long a rotated refresh token still returns the same new token pair (a retry after a lost response). 0 switches it off. Default 5. */
  refreshGraceSeconds?: number;
}

export type BrokerSigningAlg = "RS256" | "ES256" | "EdDSA";

export interface ResolvedBrokerOptions {
  storeUrl: string | undefined;
  store: BrokerStore | undefined;
  audience: string;
  issuer: string | undefined;
  trustedIssuers: Array<{ issuer: string; jwksUri: URL }>;
  jwksPath: string;
  signingAlg: BrokerSigningAlg;
  keyRotationSeconds: number;
  accessTokenSeconds: number;
  sessionSeconds: number;
  refreshGraceSeconds: number;
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

export interface ResolvedOptions {
  clientId: string;
  clientSecret: string | undefined;
  discoveryUrl: URL;
  scopes: string[];
  audience: string;
  claims: ClaimConstraints;
  proxy: URL | undefined;
  offlineAccess: boolean;
  timeoutMs: number;
  jwksUri: URL | undefined;
  issuer: string | undefined;
  appName: string;
  allowedRedirectUris: string[] | undefined;
  secret: Uint8Array | undefined;
  clockToleranceSeconds: number;
  algorithms: string[];
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  tokenCacheSize: number;
  tokenCacheMaxAgeMs: number;
  loginTimeoutSeconds: number;
  maxBodyBytes: number;
  logger: Logger;
  /** Present in broker mode only. */
  broker: ResolvedBrokerOptions | undefined;
}

export class ConfigurationError extends Error {
  constructor(option: string, problem: string) {
    super(`ts-oidc-auth: invalid option "${option}": ${problem}`);
    this.name = "ConfigurationError";
  }
}

const KNOWN_OPTIONS = new Set<string>([
  "clientId",
  "clientSecret",
  "discoveryUrl",
  "scopes",
  "audience",
  "claims",
  "proxy",
  "offlineAccess",
  "timeoutMs",
  "jwksUri",
  "issuer",
  "appName",
  "allowedRedirectUris",
  "secret",
  "clockToleranceSeconds",
  "algorithms",
  "jwksCooldownMs",
  "jwksMaxAgeMs",
  "tokenCacheSize",
  "tokenCacheMaxAgeMs",
  "loginTimeoutSeconds",
  "maxBodyBytes",
  "logger",
  "brokerMode",
  "brokerStoreUrl",
  "brokerStore",
  "brokerAudience",
  "brokerIssuer",
  "trustedIssuers",
  "brokerJwksPath",
  "brokerSigningAlg",
  "brokerKeyRotationSeconds",
  "brokerAccessTokenSeconds",
  "brokerSessionSeconds",
  "refreshGraceSeconds",
]);

export function resolveOptions(options: OIDCAuthOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError("options", "expected an object");
  }
  // A misspelt option would otherwise be ignored in silence.
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new ConfigurationError(key, "unknown option");
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
    claims: options.claims ?? {},
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
    logger: options.logger ?? consoleLogger,
    broker: options.brokerMode ? resolveBrokerOptions(options) : undefined,
  };
}

const SIGNING_ALGS: readonly BrokerSigningAlg[] = ["RS256", "ES256", "EdDSA"];

function resolveBrokerOptions(options: OIDCAuthOptions): ResolvedBrokerOptions {
  const jwksPath = options.brokerJwksPath ?? "/auth/v2/.well-known/jwks.json";
  if (!jwksPath.startsWith("/"))
    throw new ConfigurationError("brokerJwksPath", 'must start with "/"');
  const signingAlg = options.brokerSigningAlg ?? "RS256";
  if (!SIGNING_ALGS.includes(signingAlg)) {
    throw new ConfigurationError("brokerSigningAlg", `expected one of ${SIGNING_ALGS.join(", ")}`);
  }
  const accessTokenSeconds = positive(
    options.brokerAccessTokenSeconds ?? 600,
    "brokerAccessTokenSeconds",
  );
  if (accessTokenSeconds > 900) {
    throw new ConfigurationError(
      "brokerAccessTokenSeconds",
      "at most 900: access tokens stay valid after logout, so they must be short",
    );
  }
  if (
    options.brokerStore !== undefined &&
    typeof options.brokerStore?.consumeRefreshToken !== "function"
  ) {
    throw new ConfigurationError(
      "brokerStore",
      "expected a BrokerStore (e.g. new MongoDBBrokerStore({ db }))",
    );
  }
  return {
    storeUrl:
      options.brokerStoreUrl === undefined
        ? undefined
        : nonEmptyString(options.brokerStoreUrl, "brokerStoreUrl"),
    store: options.brokerStore,
    audience: nonEmptyString(options.brokerAudience ?? "ts-oidc-auth", "brokerAudience"),
    issuer:
      options.brokerIssuer === undefined
        ? undefined
        : httpUrl(options.brokerIssuer, "brokerIssuer").href.replace(/\/$/, ""),
    trustedIssuers: (options.trustedIssuers ?? []).map((entry) => trustedIssuer(entry, jwksPath)),
    jwksPath,
    signingAlg,
    keyRotationSeconds: positive(
      options.brokerKeyRotationSeconds ?? 7 * 86_400,
      "brokerKeyRotationSeconds",
    ),
    accessTokenSeconds,
    sessionSeconds: positive(options.brokerSessionSeconds ?? 30 * 86_400, "brokerSessionSeconds"),
    refreshGraceSeconds: nonNegative(options.refreshGraceSeconds ?? 5, "refreshGraceSeconds"),
  };
}

function trustedIssuer(
  entry: string | { issuer: string; jwksUri: string },
  jwksPath: string,
): { issuer: string; jwksUri: URL } {
  if (typeof entry === "string") {
    const issuer = httpUrl(entry, "trustedIssuers").href.replace(/\/$/, "");
    return { issuer, jwksUri: new URL(`${issuer}${jwksPath}`) };
  }
  if (typeof entry !== "object" || entry === null) {
    throw new ConfigurationError("trustedIssuers", "expected issuer URLs or { issuer, jwksUri }");
  }
  return {
    issuer: nonEmptyString(entry.issuer, "trustedIssuers"),
    jwksUri: httpUrl(entry.jwksUri, "trustedIssuers"),
  };
}

function nonEmptyString(value: unknown, option: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigurationError(option, "expected a non-empty string");
  }
  return value;
}

function httpUrl(value: unknown, option: string): URL {
  const text = nonEmptyString(value, option);
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.protocol !== "https:" && url?.protocol !== "http:") {
    throw new ConfigurationError(option, "expected an http(s) URL");
  }
  return url;
}

function positive(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(option, "expected a positive number");
  }
  return value;
}

function nonNegative(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(option, "expected a number of at least 0");
  }
  return value;
}

function count(value: unknown, option: string): number {
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
