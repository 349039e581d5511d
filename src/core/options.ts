/**
 * The core's configuration: the camelCase of py-oidc-auth's names (README
 * "Configuration") plus what security needs. `resolveOptions` checks
 * everything once, at construction, so nothing on a request path parses
 * configuration again. Broker mode's options are the broker's own
 * (broker/options.ts).
 */
import { type ClaimConstraints, checkClaimConstraints } from "./claims.ts";
import { consoleLogger, type Logger, type ResolvedLogger, resolveLogger } from "./log.ts";
import { type BrowserSessionOptions, resolveSessionOptions } from "./session/options.ts";

export interface CoreOptions {
  /** The client id registered at the IdP. */
  clientId: string;
  /** The client secret; absent for a public client. */
  clientSecret?: string;
  /** The IdP's discovery document, e.g. `https://idp/realms/x/.well-known/openid-configuration`. May be an internal URL. */
  discoveryUrl: string;
  /** Scopes requested at login besides `openid`: space-separated, or an array. Default `"profile email"`. */
  scopes?: string | string[];
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
  /**
   * The resource identifier of the app's protected routes, published in
   * their RFC 9728 metadata (docs/guards.md "Protected resource metadata"). Default:
   * `proxy` joined with the router prefix, or without `proxy` the request's
   * origin joined with it.
   */
  resource?: string;
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
   * encrypts what broker mode stores; or a list, newest first: the first
   * seals, every one opens, so a secret can be rotated. Without it the keys
   * are derived from `clientSecret`, which every instance of the app shares;
   * a public client without it gets a random per-process key, with a warning.
   */
  secret?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
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
  /**
   * How bearer tokens from the IdP are checked (README "Opaque access
   * tokens"): `"jwt"` (default) verifies them as JWTs against the IdP's
   * JWKS; `"introspection"` asks the IdP's RFC 7662 introspection endpoint
   * about each one; `"auto"` verifies JWTs and introspects any other token.
   * Broker mode's own tokens are always verified as JWTs. Introspection
   * authenticates with the client credentials, so it needs `clientSecret`.
   */
  idpAccessTokens?: IdpAccessTokenCheck;
  /**
   * Longest time an introspection answer is used, in milliseconds: an
   * active one never past the token's `exp`, an inactive one at most 5 s.
   * Default 30000. This bounds how long a token revoked at the IdP still
   * passes.
   */
  introspectionMaxAgeMs?: number;
  /** Lifetime of a login (from `/login` to the code exchange) in seconds. Default 600. */
  loginTimeoutSeconds?: number;
  /** Largest request body accepted, in bytes. Default 16384. */
  maxBodyBytes?: number;
  /**
   * Receives debug, info, warning and error messages, with structured
   * fields as a second argument (docs/troubleshooting.md "Logging"): `console`, winston, or
   * a pino instance (called object first, as pino wants). Default: warnings
   * and errors to the console.
   */
  logger?: Logger;
  /**
   * Browser sessions for server-rendered apps (docs/browser-sessions.md "Browser sessions"):
   * the callback sets an encrypted session cookie and redirects, and the
   * guards accept the session besides bearer tokens. Off by default.
   */
  browserSessions?: boolean | BrowserSessionOptions;
}

/** See `CoreOptions.idpAccessTokens`. */
export type IdpAccessTokenCheck = "jwt" | "introspection" | "auto";
const IDP_ACCESS_TOKEN_CHECKS: readonly IdpAccessTokenCheck[] = ["jwt", "introspection", "auto"];

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
  resource: true,
  appName: true,
  allowedRedirectUris: true,
  secret: true,
  clockToleranceSeconds: true,
  algorithms: true,
  jwksCooldownMs: true,
  jwksMaxAgeMs: true,
  tokenCacheSize: true,
  tokenCacheMaxAgeMs: true,
  idpAccessTokens: true,
  introspectionMaxAgeMs: true,
  loginTimeoutSeconds: true,
  maxBodyBytes: true,
  logger: true,
  browserSessions: true,
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
  const known = [...Object.keys(CORE_OPTION_NAMES), ...otherNames];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const suggestion = closestName(key, known);
      throw new ConfigurationError(
        key,
        suggestion === undefined
          ? "unknown option"
          : `unknown option; did you mean "${suggestion}"?`,
      );
    }
  }
  const algorithms = stringList(options.algorithms ?? [...ASYMMETRIC_ALGORITHMS], "algorithms");
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
    scopes: scopeList(options.scopes ?? "profile email"),
    audience:
      options.audience === undefined ? clientId : nonEmptyString(options.audience, "audience"),
    claims: claimConstraints(options.claims ?? {}),
    proxy: options.proxy === undefined ? undefined : httpUrl(options.proxy, "proxy"),
    offlineAccess: boolean(options.offlineAccess ?? true, "offlineAccess"),
    timeoutMs: positive(options.timeoutMs ?? 10_000, "timeoutMs"),
    jwksUri: options.jwksUri === undefined ? undefined : httpUrl(options.jwksUri, "jwksUri"),
    issuer: options.issuer === undefined ? undefined : nonEmptyString(options.issuer, "issuer"),
    resource: options.resource === undefined ? undefined : resourceIdentifier(options.resource),
    appName: nonEmptyString(options.appName ?? "ts-oidc-auth", "appName"),
    allowedRedirectUris:
      options.allowedRedirectUris === undefined
        ? undefined
        : stringList(options.allowedRedirectUris, "allowedRedirectUris").map(
            (uri) => httpUrl(uri, "allowedRedirectUris").href,
          ),
    secrets: options.secret === undefined ? undefined : secretList(options.secret),
    clockToleranceSeconds: nonNegative(
      options.clockToleranceSeconds ?? 30,
      "clockToleranceSeconds",
    ),
    algorithms,
    jwksCooldownMs: nonNegative(options.jwksCooldownMs ?? 30_000, "jwksCooldownMs"),
    jwksMaxAgeMs: positive(options.jwksMaxAgeMs ?? 600_000, "jwksMaxAgeMs"),
    tokenCacheSize: count(options.tokenCacheSize ?? 10_000, "tokenCacheSize"),
    tokenCacheMaxAgeMs: positive(options.tokenCacheMaxAgeMs ?? 60_000, "tokenCacheMaxAgeMs"),
    idpAccessTokens: idpAccessTokenCheck(options.idpAccessTokens, options.clientSecret),
    introspectionMaxAgeMs: positive(
      options.introspectionMaxAgeMs ?? 30_000,
      "introspectionMaxAgeMs",
    ),
    loginTimeoutSeconds: positive(options.loginTimeoutSeconds ?? 600, "loginTimeoutSeconds"),
    maxBodyBytes: positive(options.maxBodyBytes ?? 16_384, "maxBodyBytes"),
    logger: logger(options.logger ?? consoleLogger),
    browserSessions: resolveSessionOptions(options.browserSessions),
  };
}

/** RFC 9728 §1.2: an https (or, for development, http) URL without a fragment. */
function resourceIdentifier(value: unknown): string {
  const url = httpUrl(value, "resource");
  if (url.hash !== "" || String(value).includes("#")) {
    throw new ConfigurationError("resource", "expected a URL without a fragment");
  }
  return url.href.replace(/\/$/, url.pathname === "/" ? "" : "/");
}

/** RFC 7662 §2.1: the introspection endpoint wants an authenticated caller, so a confidential client. */
function idpAccessTokenCheck(value: unknown, clientSecret: unknown): IdpAccessTokenCheck {
  const check = value ?? "jwt";
  if (!IDP_ACCESS_TOKEN_CHECKS.includes(check as IdpAccessTokenCheck)) {
    throw new ConfigurationError(
      "idpAccessTokens",
      `expected "jwt", "introspection" or "auto", got ${kindOf(value)}`,
    );
  }
  if (check !== "jwt" && clientSecret === undefined) {
    throw new ConfigurationError(
      "idpAccessTokens",
      "introspection authenticates with the client credentials (RFC 7662 §2.1): configure clientSecret",
    );
  }
  return check as IdpAccessTokenCheck;
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

/** What a value is, for a message: its type, never the value (it may be a secret). */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.trim() === "" ? "an empty string" : "a string";
  if (typeof value === "number") return Number.isFinite(value) ? "a number" : `${value}`;
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

export function nonEmptyString(value: unknown, option: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigurationError(option, `expected a non-empty string, got ${kindOf(value)}`);
  }
  return value;
}

export function boolean(value: unknown, option: string): boolean {
  if (typeof value !== "boolean") {
    throw new ConfigurationError(option, `expected true or false, got ${kindOf(value)}`);
  }
  return value;
}

/** An array of strings. */
export function stringList(value: unknown, option: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new ConfigurationError(option, `expected an array of strings, got ${kindOf(value)}`);
  }
  return value;
}

/** `"profile email"` or `["profile", "email"]` (what users reach for), as a list. */
function scopeList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  if (!items.every((item) => typeof item === "string")) {
    throw new ConfigurationError(
      "scopes",
      `expected a space-separated string or an array of strings, got ${Array.isArray(value) ? "an array with a non-string" : kindOf(value)}`,
    );
  }
  return (items as string[]).flatMap((item) => item.split(/\s+/)).filter(Boolean);
}

/**
 * The known name nearest to a misspelt one: the same name in another case or
 * in snake_case (py-oidc-auth's spelling, e.g. `client_id`), else one within
 * a small edit distance.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const folded = name.replace(/[_-]/g, "").toLowerCase();
  const sameLetters = known.find((candidate) => candidate.toLowerCase() === folded);
  if (sameLetters) return sameLetters;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of known) {
    const distance = editDistance(folded, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, with a transposition counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i]!;
      const previous = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
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
    throw new ConfigurationError(option, `expected a positive number, got ${kindOf(value)}`);
  }
  return value;
}

export function nonNegative(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(option, `expected a number of at least 0, got ${kindOf(value)}`);
  }
  return value;
}

export function count(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError(
      option,
      `expected a whole number of at least 0, got ${kindOf(value)}`,
    );
  }
  return value;
}

function secretList(secret: unknown): Uint8Array[] {
  const list: unknown[] = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0) throw new ConfigurationError("secret", "expected at least one secret");
  return list.map((entry, index) => {
    const which = list.length > 1 ? ` (entry ${index + 1} of the list)` : "";
    if (typeof entry !== "string" && !(entry instanceof Uint8Array)) {
      throw new ConfigurationError(
        "secret",
        `expected a string or a Uint8Array of at least 32 bytes${which}, got ${kindOf(entry)}`,
      );
    }
    const bytes = typeof entry === "string" ? new TextEncoder().encode(entry) : entry;
    if (bytes.byteLength < 32) {
      throw new ConfigurationError(
        "secret",
        `expected at least 32 bytes${which}, e.g. 32 random bytes, base64`,
      );
    }
    return bytes;
  });
}
