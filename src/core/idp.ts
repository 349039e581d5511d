/**
 * Everything that talks to the identity provider, through openid-client.
 * Discovery is lazy and retried with backoff (README "Configuration"); every IdP failure
 * becomes an `AuthError` whose text is ours, never the IdP's.
 */
import * as client from "openid-client";
import { AuthError, badRequest, safeErrorCode, unavailable } from "./errors.ts";
import { Lazy, NETWORK_BACKOFF } from "./lazy.ts";
import { describeError } from "./log.ts";
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
      this.options.logger.error(`OIDC discovery failed: ${describeError(error)}`);
      throw unavailable("The identity provider cannot be reached; try again shortly.");
    }
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
    if (!uri) throw unavailable("The identity provider publishes no JWKS.");
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
    if (error instanceof client.ResponseBodyError) {
      const passed = PASSED_THROUGH[error.error];
      if (passed) return badRequest(passed, error.error);
      if (error.error === "invalid_grant") {
        return badRequest(`The ${what} is invalid, expired or already used.`, "invalid_grant");
      }
      if (error.status >= 500) return this.unreachable(what, error);
      this.options.logger.error(`The IdP refused the ${what} request: ${error.error}`);
      if (error.error === "invalid_client" || error.error === "unauthorized_client") {
        return new AuthError(
          502,
          "server_error",
          "The identity provider rejected this application.",
        );
      }
      return badRequest(
        `The identity provider refused the ${what} request.`,
        safeErrorCode(error.error),
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
    );
    return new AuthError(
      502,
      "server_error",
      `The identity provider's ${what} response was invalid.`,
    );
  }

  private unreachable(what: string, error: unknown): AuthError {
    this.options.logger.error(`The IdP ${what} request failed: ${describeError(error)}`);
    return unavailable("The identity provider cannot be reached; try again shortly.");
  }

  private async discover(): Promise<client.Configuration> {
    const { discoveryUrl, timeoutMs, clientId, clientSecret } = this.options;
    const response = await fetch(discoveryUrl, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
    const discovered = (await response.json()) as client.ServerMetadata;
    if (typeof discovered?.issuer !== "string" || typeof discovered.token_endpoint !== "string") {
      throw new Error("discovery document lacks issuer or token_endpoint");
    }
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
