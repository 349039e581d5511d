/**
 * Broker mode's options (docs/broker.md "Broker mode"): named and checked here, by
 * the broker, on the same options object the core reads.
 */
import type { Logger } from "../core/log.ts";
import {
  boolean,
  ConfigurationError,
  httpUrl,
  kindOf,
  nonEmptyString,
  nonNegative,
  positive,
} from "../core/options.ts";
import { DEFAULT_JWKS_PATH } from "../core/paths.ts";
import { DEFAULT_STORE_TIMEOUT_MS } from "../stores/common.ts";
import type { BrokerStore } from "../stores/types.ts";

export interface BrokerOptions {
  /** Broker mode: mint the app's own tokens and keep the IdP's refresh tokens in a store. */
  brokerMode?: boolean;
  /** Where the broker keeps keys and sessions, e.g. `postgresql://…` (see the README for every form). Default: a SQLite file in the user's data directory for `appName`. */
  brokerStoreUrl?: string;
  /** An existing store object; wins over `brokerStoreUrl`. */
  brokerStore?: BrokerStore;
  /**
   * How long any one store call (and connecting to the store) may take, in
   * milliseconds, before the request answers 503 `temporarily_unavailable`
   * with `Retry-After`. Default 5000.
   */
  brokerStoreTimeoutMs?: number;
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
  /**
   * The clients (resource servers) allowed to call the RFC 7662
   * introspection endpoint, authenticating with HTTP Basic. Secrets of at
   * least 16 characters. Default none: every introspection call is a 401.
   */
  brokerIntrospectionClients?: Array<{ clientId: string; clientSecret: string }>;
  /**
   * Instant revocation (docs/broker.md "Instant revocation"): a revoked session's
   * access tokens stop working at every instance sharing the store within
   * `brokerRevocationCheckSeconds`, instead of at their `exp`. Default false.
   */
  brokerInstantRevocation?: boolean;
  /** How often each instance asks the store again whether a session it accepts was revoked. Default 5. */
  brokerRevocationCheckSeconds?: number;
}

export type BrokerSigningAlg = "RS256" | "ES256" | "EdDSA";

/** Every broker option's name, checked by the compiler against `BrokerOptions`. */
export const BROKER_OPTION_NAMES = {
  brokerMode: true,
  brokerStoreUrl: true,
  brokerStore: true,
  brokerStoreTimeoutMs: true,
  brokerAudience: true,
  brokerIssuer: true,
  trustedIssuers: true,
  brokerJwksPath: true,
  brokerSigningAlg: true,
  brokerKeyRotationSeconds: true,
  brokerAccessTokenSeconds: true,
  brokerSessionSeconds: true,
  refreshGraceSeconds: true,
  brokerIntrospectionClients: true,
  brokerInstantRevocation: true,
  brokerRevocationCheckSeconds: true,
} as const satisfies Record<keyof BrokerOptions, true>;

export type ResolvedBrokerOptions = ReturnType<typeof resolveBrokerOptions>;

const SIGNING_ALGS: readonly BrokerSigningAlg[] = ["RS256", "ES256", "EdDSA"];

/**
 * Broker options without `brokerMode: true`. Left out, `brokerMode` makes
 * them a mistake that would otherwise pass in silence: the app would hand
 * out the IdP's tokens instead of its own, and the store, audience and peers
 * configured would be ignored, which shows only later, as peers that
 * refuse its tokens. So they are refused. `brokerMode: false` is a
 * deliberate switch (e.g. from the environment, with the rest of the broker
 * configuration left in place): a warning then.
 */
export function checkBrokerOptionsUnused(options: BrokerOptions, logger: Logger): void {
  const mode = options.brokerMode;
  if (mode === true) return;
  if (mode !== undefined) boolean(mode, "brokerMode");
  const given = Object.keys(BROKER_OPTION_NAMES).filter(
    (name) => name !== "brokerMode" && options[name as keyof BrokerOptions] !== undefined,
  );
  if (given.length === 0) return;
  const names = given.map((name) => `"${name}"`).join(", ");
  if (mode === undefined) {
    throw new ConfigurationError(
      given[0] ?? "brokerMode",
      `${names} ${given.length === 1 ? "is a broker mode option" : "are broker mode options"}, but "brokerMode" is not set; add brokerMode: true, or remove ${given.length === 1 ? "it" : "them"}`,
    );
  }
  logger.warn(`"brokerMode" is false, so ${names} ${given.length === 1 ? "is" : "are"} ignored.`);
}

export function resolveBrokerOptions(options: BrokerOptions) {
  const jwksPath = nonEmptyString(options.brokerJwksPath ?? DEFAULT_JWKS_PATH, "brokerJwksPath");
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
    storeTimeoutMs: positive(
      options.brokerStoreTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS,
      "brokerStoreTimeoutMs",
    ),
    audience: nonEmptyString(options.brokerAudience ?? "ts-oidc-auth", "brokerAudience"),
    issuer:
      options.brokerIssuer === undefined
        ? undefined
        : httpUrl(options.brokerIssuer, "brokerIssuer").href.replace(/\/$/, ""),
    trustedIssuers: trustedIssuerList(options.trustedIssuers ?? []).map((entry) =>
      trustedIssuer(entry, jwksPath),
    ),
    jwksPath,
    signingAlg,
    keyRotationSeconds: positive(
      options.brokerKeyRotationSeconds ?? 7 * 86_400,
      "brokerKeyRotationSeconds",
    ),
    accessTokenSeconds,
    sessionSeconds: positive(options.brokerSessionSeconds ?? 30 * 86_400, "brokerSessionSeconds"),
    refreshGraceSeconds: nonNegative(options.refreshGraceSeconds ?? 5, "refreshGraceSeconds"),
    introspectionClients: introspectionClients(options.brokerIntrospectionClients),
    instantRevocation: boolean(options.brokerInstantRevocation ?? false, "brokerInstantRevocation"),
    revocationCheckSeconds: positive(
      options.brokerRevocationCheckSeconds ?? 5,
      "brokerRevocationCheckSeconds",
    ),
  };
}

function trustedIssuerList(value: unknown): Array<string | { issuer: string; jwksUri: string }> {
  if (!Array.isArray(value)) {
    throw new ConfigurationError(
      "trustedIssuers",
      `expected an array of issuer URLs or { issuer, jwksUri }, got ${kindOf(value)}`,
    );
  }
  return value;
}

const INTROSPECTION_SECRET_MIN = 16;

function introspectionClients(
  clients: BrokerOptions["brokerIntrospectionClients"],
): Array<{ clientId: string; clientSecret: string }> {
  const option = "brokerIntrospectionClients";
  if (clients === undefined) return [];
  if (!Array.isArray(clients)) throw new ConfigurationError(option, "expected an array");
  const seen = new Set<string>();
  return clients.map((client) => {
    if (typeof client !== "object" || client === null) {
      throw new ConfigurationError(option, "expected { clientId, clientSecret } entries");
    }
    const clientId = nonEmptyString(client.clientId, option);
    if (seen.has(clientId)) throw new ConfigurationError(option, "a clientId is listed twice");
    seen.add(clientId);
    const { clientSecret } = client;
    if (typeof clientSecret !== "string" || clientSecret.length < INTROSPECTION_SECRET_MIN) {
      throw new ConfigurationError(
        option,
        `each clientSecret must be a string of at least ${INTROSPECTION_SECRET_MIN} characters`,
      );
    }
    return { clientId, clientSecret };
  });
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
