/**
 * A real OpenID Provider (oidc-provider 8) for tests and demos, configured to look like Keycloak
 * to a client: JWT access tokens with `realm_access`, `groups`, `preferred_username`, ...
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { JWK } from "jose";
import type Provider from "oidc-provider";
import type { ClientAuthMethod, ClientMetadata } from "oidc-provider";
import { MemoryStore } from "./adapter.ts";
import { handleInteraction, sendHtml } from "./interactions.ts";
import { generateSigningKey, type SigningKey } from "./keys.ts";
import { errorPage } from "./pages.ts";
import {
  AUDIENCE,
  buildProvider,
  GRANT_TYPES,
  OPAQUE_TOKEN_CLIENT_ID,
  ROUTES,
} from "./provider.ts";
import { handleUserinfo } from "./userinfo.ts";
import { DEMO_USERS, type DemoUser } from "./users.ts";

export { AUDIENCE, RESOURCE, ROUTES, SCOPES } from "./provider.ts";
export type { DemoUser } from "./users.ts";

export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

export interface DevIdpOptions {
  /** 0 (default) = a random free port. The IdP listens on 127.0.0.1 only. */
  port?: number;
  /** Default true; false => discovery has no end_session_endpoint. */
  endSession?: boolean;
  /**
   * Client authentication methods the IdP offers (default: all three). The confidential client
   * registers `client_secret_basic` when offered, else `client_secret_post`; the public client
   * exists only when `none` is offered.
   */
  tokenEndpointAuthMethods?: TokenEndpointAuthMethod[];
  /** Default 300. */
  accessTokenTtlSeconds?: number;
  /**
   * Non-loopback URIs to accept as well, exactly, as redirect and post-logout redirect URIs of
   * both clients (e.g. an app behind a public URL). Loopback URIs never need listing.
   */
  extraRedirectUris?: string[];
  /** `interval` of device authorization responses; default 5 (as Keycloak). */
  devicePollIntervalSeconds?: number;
  /**
   * The confidential client's `backchannel_logout_uri` (OpenID Connect
   * Back-Channel Logout 1.0), with `backchannel_logout_session_required`, so
   * that ID tokens carry `sid` and a logout at the IdP posts a logout token
   * there. Default none; `setBackchannelLogoutUri` changes it later.
   */
  backchannelLogoutUri?: string;
  /**
   * Rotate refresh tokens on every use, refusing (and ending the grant on)
   * the reuse of a rotated one, as Keycloak with "Revoke Refresh Token" and
   * Auth0 do. Default false: oidc-provider's own rule, which keeps a
   * confidential client's refresh token.
   */
  rotateRefreshTokens?: boolean;
}

export interface DevIdp {
  /** e.g. http://127.0.0.1:41234 */
  issuer: string;
  /** `${issuer}/.well-known/openid-configuration` */
  discoveryUrl: string;
  /** The `aud` of JWT access tokens: "ts-oidc-auth-test-api". */
  audience: string;
  confidentialClient: { clientId: string; clientSecret: string };
  /** A confidential client whose access tokens are opaque (checked by RFC 7662 introspection). */
  opaqueTokenClient: { clientId: string; clientSecret: string };
  publicClient: { clientId: string };
  users: readonly DemoUser[];
  /** Adds a new RS256 key that becomes the signing key; older keys stay in the JWKS. Returns its kid. */
  rotateSigningKey(): Promise<string>;
  /** Removes every key but the current signing key from the JWKS. */
  dropOldSigningKeys(): Promise<void>;
  /** The current signing key, to mint tokens with arbitrary claims signed by the genuine key. */
  signingKey(): { kid: string; privateKey: CryptoKey; publicJwk: JWK };
  /** Sets (or, with undefined, removes) the confidential client's `backchannel_logout_uri`. */
  setBackchannelLogoutUri(uri: string | undefined): void;
  /** Closes the server and all its connections. */
  stop(): Promise<void>;
}

export const CONFIDENTIAL_CLIENT = {
  clientId: "demo-app",
  clientSecret: "demo-app-secret",
} as const;
export const PUBLIC_CLIENT = { clientId: "demo-cli" } as const;
export const OPAQUE_TOKEN_CLIENT = {
  clientId: OPAQUE_TOKEN_CLIENT_ID,
  clientSecret: "demo-opaque-secret",
} as const;

const ALL_AUTH_METHODS: TokenEndpointAuthMethod[] = [
  "client_secret_basic",
  "client_secret_post",
  "none",
];
/** Endpoints where clients authenticate, and so where we enforce the offered methods. */
const CLIENT_AUTH_PATHS = new Set<string>([
  ROUTES.token,
  ROUTES.revocation,
  ROUTES.introspection,
  ROUTES.device_authorization,
]);

export async function startDevIdp(options: DevIdpOptions = {}): Promise<DevIdp> {
  const authMethods = options.tokenEndpointAuthMethods ?? ALL_AUTH_METHODS;
  if (authMethods.length === 0) throw new Error("tokenEndpointAuthMethods must not be empty");
  const server = createServer();
  const port = await listen(server, options.port ?? 0);
  const settings: IdpSettings = {
    issuer: `http://127.0.0.1:${port}`,
    authMethods,
    endSession: options.endSession ?? true,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300,
    extraRedirectUris: options.extraRedirectUris ?? [],
    devicePollIntervalSeconds: options.devicePollIntervalSeconds ?? 5,
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    backchannelLogoutUri: options.backchannelLogoutUri,
  };
  return new DevIdpServer(server, settings, await generateSigningKey());
}

interface IdpSettings {
  issuer: string;
  authMethods: TokenEndpointAuthMethod[];
  endSession: boolean;
  accessTokenTtlSeconds: number;
  extraRedirectUris: string[];
  devicePollIntervalSeconds: number;
  rotateRefreshTokens: boolean;
  backchannelLogoutUri: string | undefined;
}

class DevIdpServer implements DevIdp {
  readonly issuer: string;
  readonly discoveryUrl: string;
  readonly audience = AUDIENCE;
  readonly confidentialClient = { ...CONFIDENTIAL_CLIENT };
  readonly opaqueTokenClient = { ...OPAQUE_TOKEN_CLIENT };
  readonly publicClient = { ...PUBLIC_CLIENT };
  readonly users = DEMO_USERS;

  readonly #server: Server;
  readonly #settings: IdpSettings;
  /** Shared by every Provider we build, so state survives key rotation. */
  readonly #store = new MemoryStore();
  readonly #cookieKeys = [randomBytes(32).toString("base64url")];
  #keys: SigningKey[];
  #provider: Provider;
  #callback: ReturnType<Provider["callback"]>;

  constructor(server: Server, settings: IdpSettings, key: SigningKey) {
    this.#server = server;
    this.#settings = settings;
    this.issuer = settings.issuer;
    this.discoveryUrl = `${settings.issuer}/.well-known/openid-configuration`;
    this.#keys = [key];
    this.#provider = this.#build();
    this.#callback = this.#provider.callback();
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch((error: unknown) => this.#fail(res, error));
    });
  }

  async rotateSigningKey(): Promise<string> {
    const key = await generateSigningKey();
    this.#keys = [key, ...this.#keys];
    this.#swapProvider();
    return key.kid;
  }

  async dropOldSigningKeys(): Promise<void> {
    this.#keys = this.#keys.slice(0, 1);
    this.#swapProvider();
  }

  signingKey(): { kid: string; privateKey: CryptoKey; publicJwk: JWK } {
    const [current] = this.#keys;
    if (!current) throw new Error("dev IdP has no signing key");
    return {
      kid: current.kid,
      privateKey: current.privateKey,
      publicJwk: { ...current.publicJwk },
    };
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      // close() alone waits for idle keep-alive sockets (fetch keeps them open).
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** oidc-provider's keystore is fixed at construction, so a key change means a new Provider. */
  setBackchannelLogoutUri(uri: string | undefined): void {
    this.#settings.backchannelLogoutUri = uri;
    // Clients are configuration: a new Provider on the same store keeps every session and grant.
    this.#swapProvider();
  }

  #swapProvider(): void {
    this.#provider = this.#build();
    this.#callback = this.#provider.callback();
  }

  #build(): Provider {
    const settings = this.#settings;
    return buildProvider({
      issuer: settings.issuer,
      store: this.#store,
      keys: this.#keys,
      cookieKeys: this.#cookieKeys,
      clients: clientsFor(
        settings.authMethods,
        settings.extraRedirectUris,
        settings.backchannelLogoutUri,
      ),
      clientAuthMethods: settings.authMethods,
      endSession: settings.endSession,
      accessTokenTtlSeconds: settings.accessTokenTtlSeconds,
      devicePollIntervalSeconds: settings.devicePollIntervalSeconds,
      rotateRefreshTokens: settings.rotateRefreshTokens,
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.issuer);
    const { pathname } = url;
    if (pathname === ROUTES.authorization && req.method === "GET") {
      req.url = withConsentForOfflineAccess(url);
    }
    if (pathname.startsWith("/interaction/")) {
      await handleInteraction(this.#provider, req, res);
    } else if (pathname === ROUTES.userinfo) {
      const context = {
        issuer: this.issuer,
        audience: this.audience,
        jwks: () => this.#publicJwks(),
      };
      await handleUserinfo(context, req, res);
    } else if (this.#refusesBasicAuth(req, pathname)) {
      sendJson(res, 401, {
        error: "invalid_client",
        error_description: "client_secret_basic is not offered by this IdP",
      });
    } else {
      await this.#callback(req, res);
    }
  }

  /** oidc-provider accepts Basic whenever it accepts client_secret_post; a real IdP may not. */
  #refusesBasicAuth(req: IncomingMessage, pathname: string): boolean {
    return (
      CLIENT_AUTH_PATHS.has(pathname) &&
      !this.#settings.authMethods.includes("client_secret_basic") &&
      /^basic\s/i.test(req.headers.authorization ?? "")
    );
  }

  #publicJwks(): { keys: JWK[] } {
    return { keys: this.#keys.map((key) => ({ ...key.publicJwk })) };
  }

  #fail(res: ServerResponse, error: unknown): void {
    process.stderr.write(`dev-idp request failed: ${String(error)}\n`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendHtml(res, 500, errorPage({ error: "server_error" }));
  }
}

function clientsFor(
  authMethods: readonly TokenEndpointAuthMethod[],
  extraRedirectUris: readonly string[],
  backchannelLogoutUri: string | undefined,
): ClientMetadata[] {
  const common = {
    grant_types: GRANT_TYPES,
    response_types: ["code" as const],
    // Any loopback URI is accepted on top of these (see allowLoopbackRedirects).
    redirect_uris: ["http://127.0.0.1/callback", ...extraRedirectUris],
    post_logout_redirect_uris: ["http://127.0.0.1/", ...extraRedirectUris],
  };
  const clients: ClientMetadata[] = [];
  const secretMethod = (["client_secret_basic", "client_secret_post"] as const).find((method) =>
    authMethods.includes(method),
  );
  if (secretMethod) {
    const { clientId, clientSecret } = CONFIDENTIAL_CLIENT;
    const method: ClientAuthMethod = secretMethod;
    clients.push({
      ...common,
      client_id: clientId,
      client_secret: clientSecret,
      client_name: "Demo App",
      token_endpoint_auth_method: method,
      ...(backchannelLogoutUri === undefined
        ? {}
        : {
            backchannel_logout_uri: backchannelLogoutUri,
            backchannel_logout_session_required: true,
          }),
    });
    clients.push({
      ...common,
      client_id: OPAQUE_TOKEN_CLIENT.clientId,
      client_secret: OPAQUE_TOKEN_CLIENT.clientSecret,
      client_name: "Demo App (opaque access tokens)",
      token_endpoint_auth_method: method,
    });
  }
  if (authMethods.includes("none")) {
    clients.push({
      ...common,
      client_id: PUBLIC_CLIENT.clientId,
      client_name: "Demo CLI",
      token_endpoint_auth_method: "none",
    });
  }
  return clients;
}

/**
 * oidc-provider (following OIDC Core) ignores `offline_access` unless `prompt=consent` is sent;
 * Keycloak grants it without. Adding the prompt gives Keycloak's behaviour (offline refresh
 * tokens that survive logout); consent is automatic here, so the user sees no difference.
 * Returns the request path and query to use.
 */
function withConsentForOfflineAccess(url: URL): string {
  const scopes = url.searchParams.get("scope")?.split(" ") ?? [];
  const prompts = url.searchParams.get("prompt")?.split(" ").filter(Boolean) ?? [];
  // prompt=none must stay alone, so there offline_access is still dropped by oidc-provider.
  if (
    scopes.includes("offline_access") &&
    !prompts.includes("consent") &&
    !prompts.includes("none")
  ) {
    url.searchParams.set("prompt", [...prompts, "consent"].join(" "));
  }
  return `${url.pathname}${url.search}`;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(JSON.stringify(body));
}
