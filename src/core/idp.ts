/**
 * Everything that talks to the identity provider, through openid-client.
 * Discovery is lazy and retried with backoff (README "Configuration"); every IdP failure
 * becomes an `AuthError` whose text is ours, never the IdP's.
 */
import * as client from "openid-client";
import { AuthError, badRequest, safeErrorCode, unavailable } from "./errors.ts";
import { Lazy, NETWORK_BACKOFF } from "./lazy.ts";
import { describeError, errorCode, type LogFields, loggableUrl } from "./log.ts";
import type { ResolvedOptions } from "./options.ts";

export type TokenSet = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
export type DeviceAuthorization = client.DeviceAuthorizationResponse;

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** Device-flow and consent errors that clients must see as they are (RFC 8628 §3.5). */
const PASSED_THROUGH: Record<string, string> = {
  authorization_pending: "The user has not yet completed the authorization.",
  slow_down: "Polling too fast; wait longer between requests.",
  expired_token: "The device code has expired; start the device flow again.",
  access_denied: "The user denied the authorization request.",
};

export class IdentityProvider {
  private readonly configuration: Lazy<client.Configuration>;

  constructor(private readonly options: ResolvedOptions) {
    this.configuration = new Lazy(() => this.discover(), NETWORK_BACKOFF);
  }

  /** The client configuration, discovered on first use. */
  async config(): Promise<client.Configuration> {
    try {
      return await this.configuration.get();
    } catch (error) {
      if (error instanceof DiscoveryError) {
        this.options.logger.error(error.message, error.fields);
      } else {
        const url = loggableUrl(this.options.discoveryUrl);
        this.options.logger.error(`OIDC discovery at ${url} failed: ${describeError(error)}`, {
          url,
          code: errorCode(error),
        });
      }
      throw unavailable("The identity provider cannot be reached; try again shortly.");
    }
  }

  /**
   * Discovers now rather than on first use (README "Lifecycle"); throws the
   * DiscoveryError that names the URL and the cause (HTTP status, errno).
   */
  async ready(): Promise<void> {
    await this.configuration.get();
  }

  async metadata(): Promise<client.ServerMetadata> {
    return (await this.config()).serverMetadata();
  }

  /** The issuer tokens must carry: the configured override, else discovery's. */
  async issuer(): Promise<string> {
    return this.options.issuer ?? (await this.metadata()).issuer;
  }

  async jwksUri(): Promise<URL> {
    const uri = this.options.jwksUri?.href ?? (await this.metadata()).jwks_uri;
    if (!uri) {
      const url = loggableUrl(this.options.discoveryUrl);
      this.options.logger.error(
        `The discovery document at ${url} names no jwks_uri, so tokens cannot be verified; configure "jwksUri"`,
        { url, missing: ["jwks_uri"] },
      );
      throw unavailable("The identity provider publishes no JWKS.");
    }
    return new URL(uri);
  }

  async authorizationUrl(parameters: Record<string, string>): Promise<URL> {
    return client.buildAuthorizationUrl(await this.config(), parameters);
  }

  /** The end-session URL, or undefined when the IdP has no end-session endpoint. */
  async endSessionUrl(parameters: Record<string, string>): Promise<URL | undefined> {
    const config = await this.config();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(config, parameters);
  }

  exchangeCode(code: string, redirectUri: string, codeVerifier: string): Promise<TokenSet> {
    return this.call("authorization code", async (config) =>
      client.genericGrantRequest(config, "authorization_code", {
        code,
        redirect_uri: redirectUri,
        code_verifier: codeVerifier,
      }),
    );
  }

  refresh(refreshToken: string): Promise<TokenSet> {
    return this.call("refresh token", (config) => client.refreshTokenGrant(config, refreshToken));
  }

  pollDevice(deviceCode: string): Promise<TokenSet> {
    return this.call("device code", (config) =>
      client.genericGrantRequest(config, DEVICE_CODE_GRANT, { device_code: deviceCode }),
    );
  }

  startDevice(scope: string): Promise<DeviceAuthorization> {
    return this.call("device authorization", (config) => {
      if (!config.serverMetadata().device_authorization_endpoint) {
        throw badRequest(
          "The identity provider does not offer the device flow.",
          "unsupported_grant_type",
        );
      }
      return client.initiateDeviceAuthorization(config, { scope });
    });
  }

  /**
   * RFC 7662 §2.1: asks the IdP about a token, authenticated with the app's
   * client credentials (the same method as at the token endpoint).
   */
  introspect(token: string): Promise<client.IntrospectionResponse> {
    return this.call("token introspection", (config) => {
      if (!config.serverMetadata().introspection_endpoint) {
        const url = loggableUrl(this.options.discoveryUrl);
        this.options.logger.error(
          `The discovery document at ${url} names no introspection_endpoint, so opaque access tokens cannot be checked; set idpAccessTokens to "jwt" or enable introspection at the IdP`,
          { url, missing: ["introspection_endpoint"] },
        );
        throw unavailable("The identity provider offers no token introspection.");
      }
      return client.tokenIntrospection(config, token, { token_type_hint: "access_token" });
    });
  }

  userinfo(accessToken: string, subject: string): Promise<client.UserInfoResponse> {
    return this.call("userinfo", (config) => client.fetchUserInfo(config, accessToken, subject));
  }

  private async call<T>(what: string, request: (config: client.Configuration) => Promise<T>) {
    const config = await this.config();
    try {
      return await request(config);
    } catch (error) {
      throw this.translate(what, error);
    }
  }

  private translate(what: string, error: unknown): AuthError {
    if (error instanceof AuthError) return error;
    const refusal = oauthRefusal(what, error);
    if (refusal) {
      const { status } = refusal;
      // An IdP's code is meant to be a short token (RFC 6749 §5.2); anything else is its raw text.
      const code = /^[a-z_]{1,64}$/.test(refusal.code) ? refusal.code : "unrecognised_error";
      const passed = PASSED_THROUGH[code];
      if (passed) return badRequest(passed, code);
      const hint = REFUSAL_HINTS[code] ?? "see the IdP's log for the reason";
      const fields = { request: what, error: code, status };
      if (code === "invalid_grant") {
        // Usually the user's (an old code or refresh token), not the configuration.
        this.options.logger.info(`The IdP refused the ${what}: invalid_grant; ${hint}`, fields);
        return badRequest(`The ${what} is invalid, expired or already used.`, "invalid_grant");
      }
      if (status >= 500) return this.unreachable(what, error);
      this.options.logger.error(`The IdP refused the ${what} request: ${code}; ${hint}`, fields);
      if (code === "invalid_client" || code === "unauthorized_client") {
        return new AuthError(
          502,
          "server_error",
          "The identity provider rejected this application.",
        );
      }
      return badRequest(
        `The identity provider refused the ${what} request.`,
        safeErrorCode(code === "unrecognised_error" ? "invalid_request" : code),
      );
    }
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof TypeError ||
      code === "OAUTH_TIMEOUT" ||
      code === "OAUTH_ABORT" ||
      code === "OAUTH_RESPONSE_IS_NOT_CONFORM"
    ) {
      return this.unreachable(what, error);
    }
    this.options.logger.error(
      `The IdP's ${what} response was not acceptable: ${describeError(error)}`,
      { request: what, code: errorCode(error) },
    );
    return new AuthError(
      502,
      "server_error",
      `The identity provider's ${what} response was invalid.`,
    );
  }

  private unreachable(what: string, error: unknown): AuthError {
    const code = errorCode(error);
    const status = (error as { status?: unknown }).status;
    const hint =
      (code && NETWORK_HINTS[code]) ?? "check that the IdP is reachable from this machine";
    this.options.logger.error(`The IdP ${what} request failed: ${describeError(error)}; ${hint}`, {
      request: what,
      code,
      status: typeof status === "number" ? status : undefined,
    });
    return unavailable("The identity provider cannot be reached; try again shortly.");
  }

  private async discover(): Promise<client.Configuration> {
    const { discoveryUrl, timeoutMs, clientId, clientSecret } = this.options;
    const discovered = await fetchDiscovery(discoveryUrl, timeoutMs);
    const metadata: client.ServerMetadata = {
      ...discovered,
      issuer: this.options.issuer ?? discovered.issuer,
      jwks_uri: this.options.jwksUri?.href ?? discovered.jwks_uri,
    };
    const config = new client.Configuration(
      metadata,
      clientId,
      clientSecret,
      clientAuth(metadata, clientSecret),
    );
    config.timeout = Math.ceil(timeoutMs / 1000);
    if (!metadata.end_session_endpoint) {
      this.options.logger.warn(
        "The IdP advertises no end_session_endpoint: /logout ends no session at the IdP, it only redirects.",
      );
    }
    // An http discovery URL was configured on purpose (loopback, or an IdP
    // inside a private network); openid-client refuses http unless told.
    if (discoveryUrl.protocol === "http:") client.allowInsecureRequests(config);
    return config;
  }
}

/**
 * What to check for each OAuth error code an IdP answers with (RFC 6749
 * §5.2; RFC 6750 §3.1 for a challenge). The IdP's own description is never
 * logged: it is the IdP's raw text.
 */
const REFUSAL_HINTS: Record<string, string> = {
  invalid_client:
    "the IdP refused the client credentials: check clientId/clientSecret and the client's authentication method at the IdP",
  unauthorized_client:
    "this client may not use this grant: enable the flow (standard flow, device grant, refresh) for the client at the IdP",
  invalid_grant:
    "the code or refresh token is expired, revoked or already used, or a code's redirect_uri differs from the one at login",
  invalid_scope:
    'a requested scope is not offered to this client: check "scopes" and the client\'s scopes at the IdP',
  invalid_request:
    "the IdP found the request malformed: check the client's settings at the IdP (e.g. PKCE, redirect URIs)",
  unsupported_grant_type: "the IdP does not offer this grant: enable it for the client at the IdP",
  invalid_token: "the IdP did not accept the access token (expired, or issued for another client)",
  insufficient_scope:
    "the access token lacks the scope this IdP endpoint needs (openid for userinfo)",
  invalid_target: 'the IdP refused the audience or resource asked for: check "audience" at the IdP',
};

/**
 * The OAuth error an IdP answered with: in the body (RFC 6749 §5.2) or, for a
 * 401 with `WWW-Authenticate`, in the challenge (RFC 6750 §3), which
 * openid-client reports as a WWWAuthenticateChallengeError.
 */
function oauthRefusal(what: string, error: unknown): { code: string; status: number } | undefined {
  if (error instanceof client.ResponseBodyError) return { code: error.error, status: error.status };
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const code = error.cause.map((challenge) => challenge.parameters.error).find(Boolean);
    // A challenge without an error code: at userinfo the token, elsewhere the client's credentials.
    const unnamed = what === "userinfo" ? "invalid_token" : "invalid_client";
    return { code: code ?? unnamed, status: error.status };
  }
  return undefined;
}

/** A failed discovery, told in our words: the URL (without userinfo), what happened, what to check. */
export class DiscoveryError extends Error {
  constructor(
    message: string,
    readonly fields: LogFields,
  ) {
    super(message);
    this.name = "DiscoveryError";
  }
}

/** What a network error code means for a discovery URL, and what to check. */
const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED:
    "nothing accepts connections there; check the host and port and that the IdP is running",
  ENOTFOUND:
    "the host name does not resolve; check the host in discoveryUrl (and DNS from this machine)",
  EAI_AGAIN: "the host name could not be resolved just now; check DNS from this machine",
  ECONNRESET: "the connection was reset; check the port (http vs https) and any proxy in between",
  ETIMEDOUT: "the connection timed out; check the host, port and firewalls",
  EHOSTUNREACH: "the host is unreachable; check the address and the network",
  ENETUNREACH: "the network is unreachable from this machine",
  UND_ERR_CONNECT_TIMEOUT: "the connection timed out; check the host, port and firewalls",
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the IdP's TLS certificate is self-signed; trust its CA (NODE_EXTRA_CA_CERTS)",
  SELF_SIGNED_CERT_IN_CHAIN:
    "the IdP's TLS certificate chain is not trusted; trust its CA (NODE_EXTRA_CA_CERTS)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the IdP's TLS certificate is not trusted; trust its CA (NODE_EXTRA_CA_CERTS)",
  CERT_HAS_EXPIRED: "the IdP's TLS certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "the IdP's TLS certificate does not name this host",
};

/**
 * Fetches and checks the discovery document (OpenID Connect Discovery 1.0
 * §4); every failure is a DiscoveryError naming the URL and the cause.
 */
async function fetchDiscovery(
  discoveryUrl: URL,
  timeoutMs: number,
): Promise<client.ServerMetadata> {
  const url = loggableUrl(discoveryUrl);
  const failed = (problem: string, fields: LogFields) =>
    new DiscoveryError(`OIDC discovery at ${url} failed: ${problem}`, { url, ...fields });
  let response: Response;
  try {
    response = await fetch(discoveryUrl, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if ((error as { name?: unknown }).name === "TimeoutError") {
      throw failed(
        `no answer within ${timeoutMs} ms (timeoutMs); check that the IdP is reachable from this machine`,
        { code: "TIMEOUT" },
      );
    }
    const code = errorCode(error);
    const cause = (error as { cause?: { message?: unknown } }).cause?.message;
    const hint =
      (code && NETWORK_HINTS[code]) ??
      (cause === "bad port"
        ? "fetch refuses this port (one browsers block, https://fetch.spec.whatwg.org/#port-blocking); use another"
        : "check discoveryUrl and the network");
    throw failed(`${describeError(error)}: ${hint}`, { code });
  }
  const status = response.status;
  if (!response.ok) {
    await response.body?.cancel();
    const hint =
      status === 404
        ? "check discoveryUrl: it usually ends in /.well-known/openid-configuration (Keycloak: https://host/realms/<realm>/.well-known/openid-configuration)"
        : status >= 500
          ? "the IdP has a problem; see its logs"
          : "check discoveryUrl and whether the IdP needs this machine to be allowed";
    throw failed(`HTTP ${status}; ${hint}`, { status });
  }
  let document: unknown;
  try {
    document = await response.json();
  } catch {
    const type = response.headers.get("content-type") ?? "none";
    throw failed(
      `HTTP ${status} with a body that is not JSON (content-type ${type}); check that discoveryUrl names the discovery document itself, not a web page`,
      { status, contentType: type },
    );
  }
  const fields = typeof document === "object" && document !== null ? document : {};
  const missing = ["issuer", "token_endpoint"].filter(
    (name) => typeof (fields as Record<string, unknown>)[name] !== "string",
  );
  if (missing.length > 0) {
    throw failed(
      `the document has no ${missing.join(" and no ")}; check that discoveryUrl names an OpenID Connect discovery document`,
      { status, missing },
    );
  }
  return fields as client.ServerMetadata;
}

/** client_secret_basic unless the IdP only offers client_secret_post; none for public clients. */
function clientAuth(
  metadata: client.ServerMetadata,
  secret: string | undefined,
): client.ClientAuth {
  if (secret === undefined) return client.None();
  const offered = metadata.token_endpoint_auth_methods_supported;
  if (
    offered &&
    !offered.includes("client_secret_basic") &&
    offered.includes("client_secret_post")
  ) {
    return client.ClientSecretPost(secret);
  }
  return client.ClientSecretBasic(secret);
}
