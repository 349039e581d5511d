/**
 * `OIDCAuth`: the framework-independent core. It owns the endpoint behaviour
 * (SPEC §3) and the guards (SPEC §4); adapters only translate their
 * framework's request and response to `AuthRequest` / `AuthResponse`.
 */
import * as client from "openid-client";
import { Broker } from "../broker/broker.ts";
import { bearerToken, TokenVerifier } from "./bearer.ts";
import { compileRequirement, type IDToken, type Requirement, unmetRequirement } from "./claims.ts";
import { AuthError, badRequest, forbidden, missingToken, safeErrorCode } from "./errors.ts";
import {
  type AuthRequest,
  type AuthResponse,
  errorResponse,
  jsonResponse,
  param,
  parseForm,
  redirectResponse,
  requiredParam,
} from "./http.ts";
import { IdentityProvider, type TokenSet } from "./idp.ts";
import { keyRemovalEpoch } from "./keyset.ts";
import { describeError } from "./log.ts";
import { type OIDCAuthOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { RedirectPolicy } from "./redirects.ts";
import { LoginStateSealer, MemoryUsedOnceRegistry } from "./state.ts";
import { TokenCache } from "./token-cache.ts";
import { tokenResponseBody } from "./tokens.ts";

export type EndpointName =
  | "login"
  | "callback"
  | "token"
  | "deviceFlow"
  | "logout"
  | "userinfo"
  | "jwks";

/** Paths of the auth router; each can be renamed, or switched off with `null`. */
export interface RouterOptions {
  /** Prefix of every path, e.g. `/api`. Default none. */
  prefix?: string;
  login?: string | null;
  callback?: string | null;
  token?: string | null;
  deviceFlow?: string | null;
  logout?: string | null;
  userinfo?: string | null;
  /** Broker mode only; default `brokerJwksPath`. */
  jwks?: string | null;
}

export interface Route {
  /** The endpoint, or `metadata` for the broker's discovery documents. */
  name: EndpointName | "metadata";
  method: "GET" | "POST";
  /** Path below the prefix, starting with `/`. */
  path: string;
  handle(request: AuthRequest): Promise<AuthResponse>;
}

export const DEFAULT_PATHS: Record<Exclude<EndpointName, "jwks">, string> = {
  login: "/auth/v2/login",
  callback: "/auth/v2/callback",
  token: "/auth/v2/token",
  deviceFlow: "/auth/v2/device",
  logout: "/auth/v2/logout",
  userinfo: "/auth/v2/userinfo",
};

const METHODS: Record<EndpointName, "GET" | "POST"> = {
  login: "GET",
  callback: "GET",
  token: "POST",
  deviceFlow: "POST",
  logout: "GET",
  userinfo: "GET",
  jwks: "GET",
};

/** Where the broker publishes its metadata, below the prefix (RFC 8414, OpenID Discovery). */
const METADATA_PATHS = [
  "/.well-known/openid-configuration",
  "/.well-known/oauth-authorization-server",
];
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** What a guard decided about one request. */
export type GuardOutcome =
  | { kind: "token"; token: IDToken }
  | { kind: "anonymous" }
  | { kind: "denied"; response: AuthResponse };

export type Guard = (authorization: string | undefined) => Promise<GuardOutcome>;

const ANONYMOUS: GuardOutcome = Object.freeze({ kind: "anonymous" });

const PROMPTS = new Set(["none", "login", "consent", "select_account"]);
const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const PKCE_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

export class OIDCAuth {
  readonly options: ResolvedOptions;
  protected readonly idp: IdentityProvider;
  protected readonly verifier: TokenVerifier;
  /** Present in broker mode. */
  protected readonly broker: Broker | undefined;
  /** Verified bearer tokens (see token-cache.ts); absent when switched off. */
  protected readonly tokenCache: TokenCache | undefined;
  private readonly sealer: LoginStateSealer;
  private readonly redirects: RedirectPolicy;

  constructor(options: OIDCAuthOptions) {
    this.options = resolveOptions(options);
    this.idp = new IdentityProvider(this.options);
    this.verifier = new TokenVerifier(this.idp, this.options);
    this.redirects = new RedirectPolicy(this.options.allowedRedirectUris);
    this.tokenCache =
      this.options.tokenCacheSize > 0
        ? new TokenCache({
            maxEntries: this.options.tokenCacheSize,
            maxAgeMs: this.options.tokenCacheMaxAgeMs,
            clockToleranceSeconds: this.options.clockToleranceSeconds,
          })
        : undefined;
    const secret = this.options.secret ?? crypto.getRandomValues(new Uint8Array(32));
    const broker = this.options.broker;
    this.broker = broker && new Broker(this.options, broker, this.idp, secret);
    this.sealer = new LoginStateSealer(
      secret,
      this.options.loginTimeoutSeconds,
      // In broker mode the shared store makes each login single-use across instances.
      this.broker ?? new MemoryUsedOnceRegistry(),
    );
    this.warnAboutDefaults();
  }

  /** The enabled endpoints with their paths (below the prefix). */
  routes(router: RouterOptions = {}): Route[] {
    const handlers: Record<EndpointName, (request: AuthRequest) => Promise<AuthResponse>> = {
      login: (r) => this.login(r),
      callback: (r) => this.callback(r),
      token: (r) => this.token(r),
      deviceFlow: () => this.deviceFlow(),
      logout: (r) => this.logout(r),
      userinfo: (r) => this.userinfo(r),
      jwks: () => this.jwks(),
    };
    const paths = this.paths(router);
    const routes: Route[] = (Object.keys(handlers) as EndpointName[]).flatMap((name) => {
      const path = paths[name];
      if (path === undefined) return [];
      const handle = handlers[name];
      return [{ name, method: METHODS[name], path, handle: (r) => this.answer(() => handle(r)) }];
    });
    if (this.broker) {
      this.broker.mountAt(router.prefix ?? "", paths.jwks);
      const metadata = this.broker.metadata({
        token: paths.token,
        login: paths.login,
        device: paths.deviceFlow,
        userinfo: paths.userinfo,
      });
      for (const path of METADATA_PATHS) {
        routes.push({
          name: "metadata",
          method: "GET",
          path,
          handle: async () => jsonResponse(200, metadata),
        });
      }
    }
    return routes;
  }

  /** The path of each enabled endpoint below the prefix. */
  private paths(router: RouterOptions): Partial<Record<EndpointName, string>> {
    const defaults: Record<EndpointName, string | null> = {
      ...DEFAULT_PATHS,
      jwks: this.broker ? (this.options.broker?.jwksPath ?? null) : null,
    };
    const paths: Partial<Record<EndpointName, string>> = {};
    for (const name of Object.keys(defaults) as EndpointName[]) {
      const path = router[name] === undefined ? defaults[name] : router[name];
      if (path !== null && (name !== "jwks" || this.broker)) paths[name] = path;
    }
    return paths;
  }

  /**
   * A guard for `required()` (optional false) or `optional()` (true). The
   * requirement is compiled here, once, not per request.
   */
  guard(requirement: Requirement = {}, optional = false): Guard {
    const compiled = compileRequirement(requirement, this.options.claims);
    const refuse = (error: AuthError): GuardOutcome =>
      optional && error.status !== 503
        ? ANONYMOUS
        : { kind: "denied", response: errorResponse(error) };
    return async (authorization) => {
      if (authorization === undefined) return optional ? ANONYMOUS : refuse(missingToken());
      // The hot path: a token verified before costs one hash and one lookup, and no await here.
      let claims = this.cachedClaims(authorization);
      if (claims === undefined) {
        try {
          claims = await this.verifyBearer(authorization);
        } catch (error) {
          return refuse(this.asAuthError(error));
        }
      }
      const unmet = unmetRequirement(claims, compiled);
      return unmet === undefined ? { kind: "token", token: claims } : refuse(forbidden(unmet));
    };
  }
  /** Runs a handler, turning every failure into a JSON error response. */
  private async answer(handler: () => Promise<AuthResponse>): Promise<AuthResponse> {
    try {
      return await handler();
    } catch (error) {
      return errorResponse(this.asAuthError(error));
    }
  }

  private asAuthError(error: unknown): AuthError {
    if (error instanceof AuthError) return error;
    this.options.logger.error(`Unexpected error: ${describeError(error)}`);
    return new AuthError(500, "server_error", "An internal error occurred.");
  }

  private async login(request: AuthRequest): Promise<AuthResponse> {
    const { query } = request;
    const redirectUri = this.allowedRedirect(requiredParam(query, "redirect_uri"), "redirect_uri");
    const prompt = param(query, "prompt");
    if (prompt !== undefined && !PROMPTS.has(prompt)) {
      throw badRequest('"prompt" must be one of none, login, consent, select_account.');
    }
    const offline = booleanParam(param(query, "offline_access")) ?? this.options.offlineAccess;
    const clientChallenge = clientCodeChallenge(query);
    const verifier = clientChallenge ? undefined : client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = await this.sealer.seal({
      id: client.randomState(),
      redirectUri,
      nonce,
      verifier,
    });
    const url = await this.idp.authorizationUrl({
      response_type: "code",
      redirect_uri: redirectUri,
      scope: this.scope(param(query, "scope"), offline),
      state,
      nonce,
      code_challenge: clientChallenge ?? (await client.calculatePKCECodeChallenge(verifier ?? "")),
      code_challenge_method: "S256",
      ...(prompt === undefined ? {} : { prompt }),
    });
    return redirectResponse(url.href);
  }

  private async callback(request: AuthRequest): Promise<AuthResponse> {
    const { query } = request;
    const idpError = param(query, "error");
    if (idpError !== undefined) {
      throw badRequest(
        "The identity provider ended the login with an error.",
        safeErrorCode(idpError),
      );
    }
    const code = requiredParam(query, "code");
    const state = await this.sealer.open(requiredParam(query, "state"));
    const issuer = param(query, "iss");
    if (issuer !== undefined && issuer !== (await this.idp.issuer())) {
      throw badRequest("The authorization response comes from another issuer.");
    }
    if (state.verifier === undefined) {
      throw badRequest(
        "This login used the client's own code_challenge: POST code, redirect_uri and code_verifier to the token endpoint.",
      );
    }
    const tokens = await this.idp.exchangeCode(code, state.redirectUri, state.verifier);
    checkNonce(tokens, state.nonce);
    return this.tokenResponse(tokens);
  }

  private async token(request: AuthRequest): Promise<AuthResponse> {
    const form = await parseForm(request);
    const grantType = param(form, "grant_type");
    const code = param(form, "code");
    const refreshToken = param(form, "refresh_token", "refresh-token");
    const deviceCode = param(form, "device_code", "device-code");
    const given = [code, refreshToken, deviceCode].filter((v) => v !== undefined).length;
    if (given > 1) throw badRequest("Send only one of code, refresh_token and device_code.");
    if (grantType === TOKEN_EXCHANGE) return this.tokenExchange(form);
    if (code !== undefined) return this.tokenFromCode(form, code);
    if (refreshToken !== undefined) return this.refresh(refreshToken);
    if (deviceCode !== undefined) return this.tokenResponse(await this.idp.pollDevice(deviceCode));
    if (grantType !== undefined && !KNOWN_GRANTS.has(grantType)) {
      throw badRequest("This grant type is not supported.", "unsupported_grant_type");
    }
    throw badRequest("One of code, refresh_token or device_code is required.");
  }

  private async refresh(refreshToken: string): Promise<AuthResponse> {
    if (this.broker) return jsonResponse(200, await this.broker.sessions.refresh(refreshToken));
    return this.tokenResponse(await this.idp.refresh(refreshToken));
  }

  /** RFC 8693, broker mode: a valid IdP access token for this app in, a broker token out. */
  private async tokenExchange(form: URLSearchParams): Promise<AuthResponse> {
    if (!this.broker) {
      throw badRequest("Token exchange needs broker mode.", "unsupported_grant_type");
    }
    const subjectToken = requiredParam(form, "subject_token");
    const subjectTokenType = param(form, "subject_token_type") ?? ACCESS_TOKEN_TYPE;
    if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
      throw badRequest("Only access tokens can be exchanged.");
    }
    let claims: IDToken;
    try {
      claims = await this.verifier.verify(subjectToken);
    } catch (error) {
      if (error instanceof AuthError && error.status === 401) {
        throw badRequest("The subject_token is not a valid token for this app.", "invalid_grant");
      }
      throw error;
    }
    return jsonResponse(200, await this.broker.exchange(claims));
  }

  private async tokenFromCode(form: URLSearchParams, code: string): Promise<AuthResponse> {
    const redirectUri = requiredParam(form, "redirect_uri");
    const codeVerifier = requiredParam(form, "code_verifier");
    if (!LoginStateSealer.isSealed(codeVerifier)) {
      if (!PKCE_VERIFIER.test(codeVerifier)) throw badRequest("The code_verifier is malformed.");
      return this.tokenResponse(await this.idp.exchangeCode(code, redirectUri, codeVerifier));
    }
    const state = await this.sealer.open(codeVerifier);
    if (state.redirectUri !== redirectUri) {
      throw badRequest("The redirect_uri differs from the one used at login.", "invalid_grant");
    }
    if (state.verifier === undefined) {
      throw badRequest("This login used the client's own code_challenge: send its code_verifier.");
    }
    const tokens = await this.idp.exchangeCode(code, redirectUri, state.verifier);
    checkNonce(tokens, state.nonce);
    return this.tokenResponse(tokens);
  }

  private async deviceFlow(): Promise<AuthResponse> {
    const started = await this.idp.startDevice(this.scope(undefined, this.options.offlineAccess));
    return jsonResponse(200, {
      device_code: started.device_code,
      user_code: started.user_code,
      verification_uri: started.verification_uri,
      verification_uri_complete: started.verification_uri_complete ?? started.verification_uri,
      expires_in: started.expires_in,
      interval: started.interval ?? 5,
    });
  }

  private async logout(request: AuthRequest): Promise<AuthResponse> {
    const { query } = request;
    const requested = param(query, "post_logout_redirect_uri");
    const idTokenHint = param(query, "id_token_hint");
    const allowed =
      requested !== undefined && this.redirects.allows(requested) ? requested : undefined;
    await this.revokePresentedSession(request.authorization);
    const endSession = await this.idp.endSessionUrl({
      // Keycloak 18+ wants id_token_hint or client_id with a redirect URI.
      client_id: this.options.clientId,
      ...(idTokenHint === undefined ? {} : { id_token_hint: idTokenHint }),
      ...(allowed === undefined ? {} : { post_logout_redirect_uri: allowed }),
    });
    return redirectResponse(endSession?.href ?? allowed ?? this.homeUrl());
  }

  private async userinfo(request: AuthRequest): Promise<AuthResponse> {
    const accessToken = bearerToken(request.authorization);
    if (accessToken === undefined) throw missingToken();
    let claims: Record<string, unknown> = await this.verifyBearer(request.authorization as string);
    // A broker token is not the IdP's: its own claims are all there is.
    if (!this.broker && !hasProfile(claims)) {
      try {
        claims = { ...(await this.idp.userinfo(accessToken, String(claims.sub))), ...claims };
      } catch (error) {
        // The token's own claims still answer; the IdP's extra ones are a bonus.
        this.options.logger.warn(`IdP userinfo unavailable: ${describeError(error)}`);
      }
    }
    const text = (name: string) =>
      typeof claims[name] === "string" ? (claims[name] as string) : "";
    return jsonResponse(200, {
      username: text("preferred_username"),
      first_name: text("given_name"),
      last_name: text("family_name"),
      email: text("email"),
      pw_name: text("preferred_username"),
    });
  }

  /** The token JSON for an IdP token response; in broker mode, a new broker session's. */
  protected async tokenResponse(tokens: TokenSet): Promise<AuthResponse> {
    if (this.broker) return jsonResponse(200, await this.broker.login(tokens));
    return jsonResponse(200, tokenResponseBody(tokens));
  }

  /**
   * The claims of a bearer token verified before, if the cache still holds
   * them. The key is the SHA-256 of the whole `Authorization` value: the
   * token in it was verified, and the same value always yields the same token.
   */
  private cachedClaims(authorization: string): IDToken | undefined {
    const key = this.tokenCache?.hash(authorization);
    return typeof key === "string" ? this.tokenCache?.get(key) : undefined;
  }

  /**
   * The claims of the bearer token in an `Authorization` value (the IdP's
   * token, or in broker mode a broker's): from the cache, else verified and
   * remembered. 401 for a missing or malformed token.
   */
  private async verifyBearer(authorization: string): Promise<IDToken> {
    const token = bearerToken(authorization);
    if (token === undefined) throw missingToken();
    const cache = this.tokenCache;
    if (cache === undefined) return this.verifyUncached(token);
    const key = await cache.hash(authorization);
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    // Taken before the verification, so that nothing that happens meanwhile extends the entry.
    const startedAt = Date.now();
    const epoch = keyRemovalEpoch();
    return cache.set(key, await this.verifyUncached(token), startedAt, epoch);
  }

  /** Verifies a bearer token in full (signature, issuer, audience, times). */
  protected verifyUncached(token: string): Promise<IDToken> {
    return this.broker ? this.broker.verify(token) : this.verifier.verify(token);
  }

  private async jwks(): Promise<AuthResponse> {
    if (!this.broker) throw new AuthError(404, "not_found", "Not found.");
    return jsonResponse(200, await this.broker.jwks(), { "cache-control": "public, max-age=300" });
  }

  /** Broker mode: logging out with a valid token ends its session (its tokens then die at `exp`). */
  private async revokePresentedSession(authorization: string | undefined): Promise<void> {
    const token = bearerToken(authorization);
    if (!this.broker || token === undefined) return;
    const claims = await this.broker.verify(token).catch(() => undefined);
    if (typeof claims?.sid === "string") await this.broker.sessions.revoke(claims.sid);
  }

  private allowedRedirect(uri: string, name: string): string {
    if (!this.redirects.allows(uri)) throw badRequest(`The ${name} is not allowed.`);
    return uri;
  }

  private scope(requested: string | undefined, offline: boolean): string {
    const scopes = new Set(["openid", ...this.options.scopes, ...(requested ?? "").split(/\s+/)]);
    if (offline) scopes.add("offline_access");
    scopes.delete("");
    return [...scopes].join(" ");
  }

  private homeUrl(): string {
    return this.options.proxy ? new URL("/", this.options.proxy).href : "/";
  }

  private warnAboutDefaults(): void {
    const { logger, secret } = this.options;
    if (secret === undefined) {
      logger.warn(
        'No "secret" configured: login state is sealed with a random per-process key, so a login started on one instance (or before a restart) cannot finish on another. Configure "secret" (32+ random bytes) to share logins between instances.',
      );
    }
    if (!this.redirects.restricted) {
      logger.warn(
        'No "allowedRedirectUris" configured: /login and /logout accept any http(s) redirect URI. Configure the allow-list to rule out open redirects.',
      );
    }
  }
}

const KNOWN_GRANTS = new Set([
  "authorization_code",
  "refresh_token",
  "urn:ietf:params:oauth:grant-type:device_code",
]);

function clientCodeChallenge(query: URLSearchParams): string | undefined {
  const challenge = param(query, "code_challenge");
  const method = param(query, "code_challenge_method");
  if (challenge === undefined) {
    if (method !== undefined) throw badRequest("code_challenge_method needs a code_challenge.");
    return undefined;
  }
  if ((method ?? "S256") !== "S256")
    throw badRequest("Only the S256 code_challenge_method is allowed.");
  if (!PKCE_CHALLENGE.test(challenge)) throw badRequest("The code_challenge is malformed.");
  return challenge;
}

function booleanParam(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (["true", "1", "yes"].includes(value.toLowerCase())) return true;
  if (["false", "0", "no"].includes(value.toLowerCase())) return false;
  throw badRequest('"offline_access" must be true or false.');
}

/** OIDC Core §3.1.3.7: the ID token must echo the login's nonce. */
function checkNonce(tokens: TokenSet, nonce: string): void {
  const claims = tokens.claims();
  if (claims !== undefined && claims.nonce !== nonce) {
    throw badRequest(
      "The ID token does not belong to this login (nonce mismatch).",
      "invalid_grant",
    );
  }
}

function hasProfile(claims: Record<string, unknown>): boolean {
  return ["preferred_username", "given_name", "family_name", "email"].every(
    (name) => typeof claims[name] === "string",
  );
}
