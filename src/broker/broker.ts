/**
 * Broker mode (docs/broker.md "Broker mode"), the token mode in which the app mints
 * its own short-lived JWTs, keeps the IdP's refresh tokens (encrypted) in a
 * store, publishes its keys and metadata, and accepts the tokens of trusted
 * peers.
 */
import { decodeJwt, type JSONWebKeySet, type JWTVerifyOptions, SignJWT } from "jose";
import type { ModeServices } from "../core/auth-core.ts";
import { verifyJwt, verifyOptions } from "../core/bearer.ts";
import { flattenRoles, type IDToken } from "../core/claims.ts";
import { AuthError, badRequest, unauthorized, unavailable } from "../core/errors.ts";
import type { IdentityProvider, TokenSet } from "../core/idp.ts";
import { Lazy, NETWORK_BACKOFF } from "../core/lazy.ts";
import { describeError, errorCode, type Logger, loggableUrl } from "../core/log.ts";
import { ConfigurationError, type ResolvedOptions } from "../core/options.ts";
import { nowSeconds } from "../core/time.ts";
import type {
  EndpointPaths,
  Publication,
  SessionLifecycle,
  TokenExchangeBody,
  TokenMode,
} from "../core/token-mode.ts";
import type { TokenResponseBody } from "../core/token-response.ts";
import { userinfoFields, usernameClaim, usernameOf } from "../core/userinfo-fields.ts";
import { RotationConflictError, withCallTimeout } from "../stores/common.ts";
import type { BrokerStore } from "../stores/types.ts";
import { SessionDenyList } from "./deny-list.ts";
import { TrustedPeers } from "./federation.ts";
import { BrokerKeys } from "./keys.ts";
import { BrokerLifecycle } from "./lifecycle.ts";
import type { ResolvedBrokerOptions } from "./options.ts";
import { RefreshTokens } from "./refresh-tokens.ts";
import { SecretBox } from "./secret-box.ts";
import { BrokerSessions, type Profile } from "./sessions.ts";
import { StoreOutage } from "./store-outage.ts";

const BROKER_ALGORITHMS = ["RS256", "ES256", "EdDSA", "Ed25519"];
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export class Broker implements TokenMode {
  readonly mintsTokens = true;
  readonly sessions: BrokerSessions;
  readonly keys: BrokerKeys;
  readonly publication: Publication;
  readonly lifecycle: SessionLifecycle;
  private readonly peers: TrustedPeers;
  private readonly store: Lazy<BrokerStore>;
  private readonly outage: StoreOutage;
  private closed = false;
  private readonly options: ResolvedOptions;
  private readonly idp: IdentityProvider;
  private issuerUrl: string | undefined;
  private readonly verifyOptions = new Map<string, JWTVerifyOptions>();
  /** Instant revocation, when `brokerInstantRevocation` is on (deny-list.ts). */
  readonly sessionRevoked: ((claims: IDToken) => boolean | Promise<boolean>) | undefined;

  constructor(
    private readonly settings: ResolvedBrokerOptions,
    private readonly services: ModeServices,
  ) {
    const { options, idp, secrets } = services;
    if (services.secretsFrom === "random") {
      throw new ConfigurationError(
        "secret",
        "broker mode with a public client (no clientSecret) needs a secret that every instance shares: 32+ random bytes",
      );
    }
    const logger = options.logger;
    this.options = options;
    this.idp = idp;
    this.outage = new StoreOutage(logger);
    const store = () => this.storeOrUnavailable();
    const denyList = settings.instantRevocation
      ? new SessionDenyList(store, {
          recheckMs: settings.revocationCheckSeconds * 1000,
          denySeconds: settings.accessTokenSeconds + options.clockToleranceSeconds,
          logger,
        })
      : undefined;
    this.store = new Lazy(async () => {
      const opened = await this.openStore();
      return denyList?.watching(opened) ?? opened;
    }, NETWORK_BACKOFF);
    this.sessionRevoked = denyList && ((claims) => denyList.revoked(claims));
    this.keys = new BrokerKeys(store, {
      alg: settings.signingAlg,
      rotationSeconds: settings.keyRotationSeconds,
      box: new SecretBox(secrets, "ts-oidc-auth signing keys v1"),
      logger,
    });
    this.peers = new TrustedPeers(
      settings.trustedIssuers,
      store,
      {
        cooldownMs: options.jwksCooldownMs,
        maxAgeMs: options.jwksMaxAgeMs,
        timeoutMs: options.timeoutMs,
      },
      logger,
    );
    this.sessions = new BrokerSessions({
      store,
      box: new SecretBox(secrets, "ts-oidc-auth session secrets v1"),
      refreshAtIdp: async (refreshToken) => {
        const tokens = await idp.refresh(refreshToken);
        return { refreshToken: tokens.refresh_token, scope: tokens.scope };
      },
      mintAccessToken: (profile, scope, sessionId) => this.mint(profile, scope, sessionId),
      refreshTokens: new RefreshTokens(secrets),
      graceSeconds: settings.refreshGraceSeconds,
      // The holder's IdP call is bounded by timeoutMs and its store write by the store timeout.
      leaseSeconds: Math.ceil((options.timeoutMs + settings.storeTimeoutMs) / 1000) + 1,
      logger,
    });
    this.lifecycle = new BrokerLifecycle({
      sessions: this.sessions,
      issuer: () => this.issuer,
      audience: settings.audience,
      verifyOwn: (token) =>
        verifyJwt(token, this.keys.verificationKeys.getKey, this.verifyOptionsFor(this.issuer)),
      introspectionClients: settings.introspectionClients,
    });
    this.publication = {
      jwksPath: settings.jwksPath,
      jwks: () => this.jwks(),
      metadata: (paths) => this.metadata(paths),
    };
    this.warnAboutDefaults(logger);
  }

  /**
   * `brokerIssuer`, else the public URL of the auth routes, else the
   * audience; decided on first use, when the router prefix is fixed.
   */
  get issuer(): string {
    this.issuerUrl ??=
      this.settings.issuer ?? this.services.basePath.publicUrl ?? this.settings.audience;
    return this.issuerUrl;
  }

  /** Login states are single-use across every instance sharing the store. */
  readonly usedOnce = {
    useOnce: async (id: string, expiresAt: number): Promise<boolean> =>
      (await this.storeOrUnavailable()).useOnce(id, expiresAt),
  };

  /** After a login at the IdP: a new broker session and its first token pair. */
  async issue(tokens: TokenSet): Promise<TokenResponseBody> {
    const profile = await this.profileOf(tokens);
    const scope = tokens.scope ?? "";
    const idpRefreshExpiry = tokens.refresh_token ? refreshExpiry(tokens) : undefined;
    const expiresAt = Math.min(
      nowSeconds() + this.settings.sessionSeconds,
      idpRefreshExpiry ?? Number.POSITIVE_INFINITY,
    );
    // Back-Channel Logout 1.0 §2.7: the IdP names its session by the `sid` of the ID token
    // (one longer than a store key holds is not kept; its logouts then name the subject).
    const sid = tokens.claims()?.sid;
    const idpSid = typeof sid === "string" && sid.length <= 255 ? sid : undefined;
    return this.sessions.create(
      profile,
      scope,
      tokens.refresh_token,
      expiresAt,
      idpSid === "" ? undefined : idpSid,
    );
  }

  refresh(refreshToken: string): Promise<TokenResponseBody> {
    return this.sessions.refresh(refreshToken);
  }

  /** Logging out with a valid broker token ends its session (its tokens then die at `exp`). */
  async revoke(token: string): Promise<void> {
    const claims = await this.verify(token).catch(() => undefined);
    if (typeof claims?.sid === "string") await this.sessions.revoke(claims.sid);
  }

  /** A broker token's claims are all there is to say about the user. */
  async userClaims(claims: IDToken): Promise<Record<string, unknown>> {
    return claims;
  }

  /** RFC 8693: a valid IdP access token (with the app's audience) in, a broker access token out. */
  async exchange(claims: IDToken, subjectToken: string): Promise<TokenExchangeBody> {
    // The minted token's `sub` is the subject token's (RFC 8693 §2.2.1): it must be a string.
    if (typeof claims.sub !== "string" || claims.sub === "") {
      throw badRequest("The subject_token names no subject.", "invalid_request");
    }
    // As py-oidc-auth: the IdP's userinfo is asked only when the token names no user.
    const userinfo =
      usernameClaim(claims) === undefined ? await this.userinfo(subjectToken, claims.sub) : {};
    const profile = profileFrom(claims, userinfo);
    const scope = typeof claims.scope === "string" ? claims.scope : "";
    const access = await this.mint(profile, scope, undefined);
    return {
      access_token: access.token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: "Bearer",
      expires: access.expires,
      expires_in: access.expires - nowSeconds(),
      scope,
    };
  }

  /** A broker token, this instance's or a trusted peer's; 401 for anything else. */
  async verify(token: string): Promise<IDToken> {
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw unauthorized("The token is invalid.");
    }
    const keys =
      issuer === this.issuer
        ? this.keys.verificationKeys
        : typeof issuer === "string"
          ? await this.peers.keysFor(issuer)
          : undefined;
    if (keys === undefined) throw unauthorized("The token's issuer is not trusted.");
    return verifyJwt(token, keys.getKey, this.verifyOptionsFor(issuer as string));
  }

  /** jose's options per trusted issuer, built once each (a stranger never gets this far). */
  private verifyOptionsFor(issuer: string): JWTVerifyOptions {
    let options = this.verifyOptions.get(issuer);
    if (options === undefined) {
      options = verifyOptions({
        issuer,
        audience: this.settings.audience,
        algorithms: BROKER_ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds,
      });
      this.verifyOptions.set(issuer, options);
    }
    return options;
  }

  private jwks(): Promise<JSONWebKeySet> {
    return this.keys.publicJwks();
  }

  /** RFC 8414 / OpenID discovery metadata; `paths` are the mounted endpoint paths below the prefix. */
  private metadata(paths: EndpointPaths): Record<string, unknown> {
    const issuer = this.issuer;
    const at = (path: string | undefined) => (path === undefined ? undefined : `${issuer}${path}`);
    return {
      issuer,
      jwks_uri: `${issuer}${paths.jwks ?? this.settings.jwksPath}`,
      token_endpoint: at(paths.token),
      authorization_endpoint: at(paths.login),
      device_authorization_endpoint: at(paths.deviceFlow),
      userinfo_endpoint: at(paths.userinfo),
      // RFC 8414 §2: the broker's clients are public; introspecting resource servers use HTTP Basic.
      revocation_endpoint: at(paths.revocation),
      ...(paths.revocation === undefined
        ? {}
        : { revocation_endpoint_auth_methods_supported: ["none"] }),
      introspection_endpoint: at(paths.introspection),
      ...(paths.introspection === undefined
        ? {}
        : { introspection_endpoint_auth_methods_supported: ["client_secret_basic"] }),
      response_types_supported: ["code"],
      subject_types_supported: ["public"],
      grant_types_supported: [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
      ],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      id_token_signing_alg_values_supported: [this.settings.signingAlg],
    };
  }

  private async mint(profile: Profile, scope: string, sessionId: string | undefined) {
    const key = await this.keys.current();
    const now = nowSeconds();
    const expires = now + this.settings.accessTokenSeconds;
    const token = await new SignJWT({ ...profile, scope, ...(sessionId ? { sid: sessionId } : {}) })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
      .setIssuer(this.issuer)
      .setAudience(this.settings.audience)
      .setSubject(profile.sub)
      .setIssuedAt(now)
      .setExpirationTime(expires)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey);
    return { token, expires };
  }

  /** The user as the IdP describes them: its tokens' claims, completed by userinfo once. */
  private async profileOf(tokens: TokenSet): Promise<Profile> {
    const claims: Record<string, unknown> = {
      ...decodeIfJwt(tokens.access_token),
      ...tokens.claims(),
    };
    if (typeof claims.sub !== "string")
      throw new AuthError(502, "server_error", "The identity provider named no subject.");
    return profileFrom(claims as IDToken, await this.userinfo(tokens.access_token, claims.sub));
  }

  /** The IdP's userinfo answer; empty when it cannot be had (the token's claims still name the user). */
  private async userinfo(accessToken: string, subject: string): Promise<Record<string, unknown>> {
    try {
      return await this.idp.userinfo(accessToken, subject);
    } catch (error) {
      this.options.logger.warn(`IdP userinfo unavailable: ${describeError(error)}`);
      return {};
    }
  }

  /**
   * Connects to the store eagerly (README "Lifecycle"): resolves once
   * it answers, else throws an error naming the store (its URL without the
   * password) and the store's own words.
   */
  async ready(): Promise<void> {
    if (this.closed) throw new Error("This auth object is closed.");
    const { storeUrl } = this.settings;
    try {
      await this.store.get();
    } catch (error) {
      const where = storeUrl === undefined ? "" : ` at ${loggableUrl(storeUrl)}`;
      throw new Error(`The broker store${where} is unavailable: ${storeProblem(error, storeUrl)}`, {
        cause: error,
      });
    }
  }

  /** Closes the store's connections (never a store object passed in: that one is the app's). */
  async close(): Promise<void> {
    this.closed = true;
    this.sessions.close();
    const opened = this.store.take();
    const store = await opened?.catch(() => undefined);
    if (store !== undefined && this.settings.store === undefined) await store.close();
  }

  private async openStore(): Promise<BrokerStore> {
    const timeoutMs = this.settings.storeTimeoutMs;
    const given = this.settings.store;
    const store =
      given === undefined
        ? await (await loadStores()).createBrokerStore(this.settings.storeUrl, {
            appName: this.options.appName,
            timeoutMs,
          })
        : withCallTimeout(given, timeoutMs, "The broker store");
    try {
      await store.init();
    } catch (error) {
      // The next attempt opens afresh; this one's connections must not linger (or keep reconnecting).
      if (given === undefined) await store.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /** Store failures become 503s: the store is infrastructure, not the caller's fault. */
  private async storeOrUnavailable(): Promise<BrokerStore> {
    if (this.closed) throw unavailable("The session store is closed.");
    let store: BrokerStore;
    try {
      store = await this.store.get();
    } catch (error) {
      // The store's own words name the fix (the package to install, the
      // unsupported scheme, the host that refused); its URL's password is cut out.
      const { storeUrl } = this.settings;
      this.outage.failed(`The broker store is unavailable: ${storeProblem(error, storeUrl)}`, {
        store: storeUrl === undefined ? undefined : loggableUrl(storeUrl),
        code: errorCode(error),
      });
      throw unavailable("The session store is unavailable; try again shortly.");
    }
    return guardStore(store, this.outage, this.settings.storeUrl);
  }

  private warnAboutDefaults(logger: Logger): void {
    if (this.settings.issuer === undefined && this.options.proxy === undefined) {
      logger.warn(
        `Broker mode without "proxy" or "brokerIssuer": tokens are issued by "${this.settings.audience}", which is not a URL, so peers cannot find this instance's keys to federate with it. Configure "proxy" (the app's public URL).`,
      );
    }
  }
}

/**
 * The store backends, loaded only when no store object was given. The
 * specifier is computed so that bundlers for Workers and other non-Node
 * runtimes do not follow it into Node-only drivers; it names the sibling
 * file in source (.ts) and in the build (.js) alike.
 */
function loadStores(): Promise<typeof import("../stores/index.ts")> {
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return import(new URL(`../stores/index${extension}`, import.meta.url).href);
}

/**
 * A store error for the log: its class, code and message, with the store
 * URL and its password cut out and the length bounded. Only for errors
 * from opening a store (drivers' connection and setup messages); the
 * messages of failed queries may quote stored values and are not logged.
 */
function storeProblem(error: unknown, storeUrl: string | undefined): string {
  const described = describeError(error);
  if (!(error instanceof Error) || error.message === "") return described;
  let message = error.message;
  for (const secret of urlSecrets(storeUrl)) message = message.split(secret).join("***");
  if (message.length > 300) message = `${message.slice(0, 300)}…`;
  return described === "Error" ? message : `${message} (${described})`;
}

function urlSecrets(storeUrl: string | undefined): string[] {
  if (storeUrl === undefined) return [];
  const secrets = [storeUrl];
  const userinfo = /^[^:/?#]+:\/\/([^@/?#]*)@/.exec(storeUrl)?.[1];
  const password = userinfo?.includes(":") ? userinfo.slice(userinfo.indexOf(":") + 1) : undefined;
  if (password) {
    secrets.push(password);
    try {
      secrets.push(decodeURIComponent(password));
    } catch {}
  }
  return secrets.filter((secret) => secret.length > 0);
}

/**
 * Wraps every store call so that a failing store answers 503 instead of
 * 500, and reports each outage once (store-outage.ts).
 */
function guardStore(
  store: BrokerStore,
  outage: StoreOutage,
  storeUrl: string | undefined,
): BrokerStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        let result: unknown;
        try {
          result = await value.apply(target, args);
        } catch (error) {
          if (error instanceof AuthError || error instanceof RotationConflictError) throw error;
          const code = errorCode(error);
          outage.failed(
            `Broker store call ${String(property)} failed: ${callProblem(error, storeUrl)}`,
            {
              call: String(property),
              code,
            },
          );
          throw unavailable("The session store is unavailable; try again shortly.");
        }
        outage.succeeded();
        return result;
      };
    },
  });
}

/**
 * A lost connection or a timeout is told as the driver (or the timeout)
 * tells it: a system error code, or a plain Error without a code, which
 * the drivers raise only for the connection itself. A failed query (a
 * database error code, a SyntaxError quoting stored text) only by its
 * class and code: its message may quote stored values.
 */
function callProblem(error: unknown, storeUrl: string | undefined): string {
  const code = errorCode(error);
  const ownWords =
    code === undefined ? error instanceof Error && error.name === "Error" : /^E[A-Z]+$/.test(code);
  return ownWords ? storeProblem(error, storeUrl) : describeError(error);
}

/**
 * What minted tokens say about the user: the IdP token's claims completed
 * by its userinfo answer, names read with py-oidc-auth's table
 * (userinfo-fields.ts); the user name falls back to `sub`.
 */
function profileFrom(claims: IDToken, userinfo: Record<string, unknown>): Profile {
  const merged = { ...claims, ...userinfo, sub: claims.sub };
  const fields = userinfoFields(merged);
  const profile: Profile = { sub: claims.sub, roles: flattenRoles(merged) };
  const username = usernameOf(claims, userinfo);
  if (username !== undefined) profile.preferred_username = username;
  if (fields.email) profile.email = fields.email;
  if (fields.first_name) profile.given_name = fields.first_name;
  if (fields.last_name) profile.family_name = fields.last_name;
  return profile;
}

/** The claims of a JWT access token, read without verifying: it came straight from the IdP's token endpoint. */
function decodeIfJwt(token: string): Record<string, unknown> {
  try {
    return decodeJwt(token);
  } catch {
    return {};
  }
}

function refreshExpiry(tokens: TokenSet): number | undefined {
  const seconds = tokens.refresh_expires_in;
  if (typeof seconds === "number" && seconds > 0) return nowSeconds() + seconds;
  const exp = tokens.refresh_token ? decodeIfJwt(tokens.refresh_token).exp : undefined;
  return typeof exp === "number" ? exp : undefined;
}
