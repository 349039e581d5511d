/** Configuration of the oidc-provider instance behind the dev IdP. */
import Provider, {
  type AccessToken,
  type Account,
  type ClientAuthMethod,
  type ClientCredentials,
  type ClientMetadata,
  type Configuration,
  errors,
  type KoaContextWithOIDC,
  type ResourceServer,
} from "oidc-provider";
import type { MemoryStore } from "./adapter.ts";
import type { SigningKey } from "./keys.ts";
import {
  deviceConfirmPage,
  deviceInputPage,
  deviceSuccessPage,
  errorPage,
  logoutPage,
  logoutSuccessPage,
} from "./pages.ts";
import { findUserBySub, SCOPE_CLAIMS, userClaims } from "./users.ts";

/** `aud` of the JWT access tokens. */
export const AUDIENCE = "ts-oidc-auth-test-api";
/**
 * Resource indicator (RFC 8707) of that API. oidc-provider only issues JWT access tokens for a
 * resource server, and requires resource indicators to be absolute URIs; the audience is not one.
 */
export const RESOURCE = "urn:ts-oidc-auth:test-api";
export const SCOPES = ["openid", "offline_access", "profile", "email", "myscope"] as const;

export const ROUTES = {
  authorization: "/auth",
  token: "/token",
  userinfo: "/me",
  jwks: "/jwks",
  end_session: "/session/end",
  revocation: "/token/revocation",
  introspection: "/token/introspection",
  device_authorization: "/device/auth",
  code_verification: "/device",
} as const;

export const GRANT_TYPES = [
  "authorization_code",
  "refresh_token",
  "urn:ietf:params:oauth:grant-type:device_code",
];

export interface ProviderSettings {
  issuer: string;
  store: MemoryStore;
  /** The first key signs; the others are only published. */
  keys: readonly SigningKey[];
  cookieKeys: string[];
  clients: ClientMetadata[];
  clientAuthMethods: ClientAuthMethod[];
  endSession: boolean;
  accessTokenTtlSeconds: number;
  devicePollIntervalSeconds: number;
  rotateRefreshTokens: boolean;
}

export function buildProvider(settings: ProviderSettings): Provider {
  const provider = new Provider(settings.issuer, configuration(settings));
  allowLoopbackRedirects(provider);
  announceDevicePollInterval(provider, settings.devicePollIntervalSeconds);
  // Server errors are bugs in this dev IdP or its caller: show them (on stderr, not stdout).
  provider.on("server_error", (_ctx: unknown, error: unknown) => {
    process.stderr.write(`dev-idp server_error: ${String(error)}\n`);
  });
  // A logout token the app refused is a failed test's best clue (the app's answer, no token).
  provider.on("backchannel.error", (_ctx: unknown, error: unknown) => {
    process.stderr.write(`dev-idp backchannel logout failed: ${String(error)}\n`);
  });
  return provider;
}

function configuration(settings: ProviderSettings): Configuration {
  const ttl = settings.accessTokenTtlSeconds;
  return {
    adapter: settings.store.adapterFactory,
    clients: settings.clients,
    clientAuthMethods: settings.clientAuthMethods,
    jwks: { keys: settings.keys.map((key) => ({ ...key.privateJwk })) },
    // Plain http on 127.0.0.1: no `secure`, and `lax` because browsers drop `SameSite=None`
    // cookies that are not secure.
    cookies: {
      keys: settings.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: "lax" },
      short: { signed: true, httpOnly: true, sameSite: "lax" },
    },
    routes: { ...ROUTES },
    // Code flow only (the default adds implicit and hybrid response types).
    responseTypes: ["code"],
    scopes: [...SCOPES],
    claims: Object.fromEntries(
      Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]]),
    ),
    findAccount,
    extraTokenClaims,
    // Like Keycloak, a refresh token for every client allowed the grant, with or without
    // offline_access (oidc-provider's default requires offline_access). Without it the token is
    // bound to the IdP session and dies at logout.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    ...(settings.rotateRefreshTokens ? { rotateRefreshToken: () => true } : {}),
    pkce: { methods: ["S256"], required: () => true },
    // A dev IdP: any origin may call it from a browser.
    clientBasedCORS: () => true,
    renderError: (ctx, out) => {
      ctx.type = "html";
      ctx.body = errorPage({ ...out });
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      // RFC 7662, for the opaque access tokens of OPAQUE_TOKEN_CLIENT_ID (any confidential client may ask).
      introspection: { enabled: true },
      // OpenID Connect Back-Channel Logout 1.0: a client with a backchannel_logout_uri gets a
      // logout token there when its user logs out here.
      backchannelLogout: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx, form, _out, err) => {
          ctx.body = deviceInputPage(form, err?.name);
        },
        userCodeConfirmSource: (ctx, form, client, _info, userCode) => {
          ctx.body = deviceConfirmPage(form, client.clientName ?? client.clientId, userCode);
        },
        successSource: (ctx) => {
          const client = ctx.oidc.client;
          ctx.body = deviceSuccessPage(client?.clientName ?? client?.clientId ?? "the device");
        },
      },
      rpInitiatedLogout: {
        enabled: settings.endSession,
        logoutSource: (ctx, form) => {
          ctx.body = logoutPage(form, ctx.host);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = logoutSuccessPage();
        },
      },
      resourceIndicators: {
        enabled: true,
        // Clients never send `resource` (Keycloak has none), so every request targets our API...
        defaultResource: () => RESOURCE,
        // ...including token and refresh requests, which would otherwise get opaque tokens.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator, client) =>
          resourceServer(indicator, ttl, client.clientId === OPAQUE_TOKEN_CLIENT_ID),
      },
    },
    ttl: {
      AccessToken: ttl,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: ttl,
      RefreshToken: 24 * 60 * 60,
      Interaction: 600,
      Session: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
    },
  };
}

/** The client whose access tokens are opaque: the app can only check them by introspection. */
export const OPAQUE_TOKEN_CLIENT_ID = "demo-opaque";

function resourceServer(
  indicator: string,
  accessTokenTtlSeconds: number,
  opaque: boolean,
): ResourceServer {
  if (indicator !== RESOURCE) throw new errors.InvalidTarget();
  const common = {
    // The OIDC scopes are listed too, so that `scope` in the access token says what was granted.
    scope: SCOPES.join(" "),
    audience: AUDIENCE,
    accessTokenTTL: accessTokenTtlSeconds,
  };
  return opaque
    ? { ...common, accessTokenFormat: "opaque" }
    : { ...common, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
}

async function findAccount(_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
  const user = findUserBySub(sub);
  if (!user) return undefined;
  // oidc-provider masks these per scope (the `claims` configuration) for ID tokens.
  return { accountId: user.sub, claims: () => ({ sub: user.sub, ...userClaims(user) }) };
}

/** The Keycloak-like claims of every access token of a user (merged into the JWT payload). */
async function extraTokenClaims(
  _ctx: KoaContextWithOIDC,
  token: AccessToken | ClientCredentials,
): Promise<Record<string, unknown> | undefined> {
  const accountId = "accountId" in token ? token.accountId : undefined;
  const user = accountId ? findUserBySub(accountId) : undefined;
  if (!user) return undefined;
  const { sub: _sub, email_verified: _verified, ...claims } = userClaims(user);
  return { ...claims, azp: token.clientId };
}

function isLoopbackUri(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  return loopback && (url.protocol === "http:" || url.protocol === "https:") && url.hash === "";
}

/**
 * Tests run their apps on random ports, so every loopback redirect URI is accepted, for any
 * client (oidc-provider's documented recipe: override the Client prototype methods).
 */
function allowLoopbackRedirects(provider: Provider): void {
  const prototype = provider.Client.prototype;
  const redirectUriAllowed = prototype.redirectUriAllowed;
  const postLogoutRedirectUriAllowed = prototype.postLogoutRedirectUriAllowed;
  prototype.redirectUriAllowed = function (this: typeof prototype, uri: string): boolean {
    return isLoopbackUri(uri) || redirectUriAllowed.call(this, uri);
  };
  prototype.postLogoutRedirectUriAllowed = function (this: typeof prototype, uri: string): boolean {
    return isLoopbackUri(uri) || postLogoutRedirectUriAllowed.call(this, uri);
  };
}

/**
 * oidc-provider's device authorization response has no `interval`, so clients fall back to
 * RFC 8628's 5 seconds. Keycloak sends it; we do too, so tests can poll faster. (Like
 * oidc-provider 8, the dev IdP never answers slow_down.)
 */
function announceDevicePollInterval(provider: Provider, seconds: number): void {
  provider.use(async (ctx, next) => {
    await next();
    const isResponse =
      ctx.method === "POST" && ctx.path === ROUTES.device_authorization && ctx.status === 200;
    const body: unknown = ctx.body;
    if (isResponse && typeof body === "object" && body !== null && "device_code" in body) {
      ctx.body = { ...body, interval: seconds };
    }
  });
}
