/**
 * The framework-independent core: it owns the endpoints (endpoints/) and
 * the guards (guard.ts); adapters only translate their framework's request
 * and response to `AuthRequest` / `AuthResponse`. Whose tokens are handed
 * out and accepted is the token mode's business: passthrough here, or one
 * that a `ModePlugin` brings (broker mode, from outside the core).
 */

import { BasePath } from "./base-path.ts";
import { TokenVerifier } from "./bearer.ts";
import type { Requirement } from "./claims.ts";
import type { EndpointContext } from "./endpoints/context.ts";
import { asAuthError, type Route, type RouterOptions, routesOf } from "./endpoints/index.ts";
import type { AuthError } from "./errors.ts";
import { BearerCheck, createGuard, type Guard } from "./guard.ts";
import type { AuthRequest, BrowserRequest } from "./http.ts";
import { IdentityProvider } from "./idp.ts";
import {
  ConfigurationError,
  type CoreOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import { PassthroughMode } from "./passthrough.ts";
import { RedirectPolicy } from "./redirects.ts";
import { ProtectedResource } from "./resource-metadata.ts";
import { sessionGuard } from "./session/guard.ts";
import { BrowserSessions } from "./session/sessions.ts";
import { LoginStateSealer, MemoryUsedOnceRegistry } from "./state.ts";
import type { TokenMode } from "./token-mode.ts";

/** What a token mode other than passthrough is built from. */
export interface ModeServices {
  options: ResolvedOptions;
  idp: IdentityProvider;
  /** The keys' secrets, newest first (see `effectiveSecrets`). */
  secrets: readonly Uint8Array[];
  /** Where they come from: a random one is this process's alone. */
  secretsFrom: SecretSource;
  /** Where the auth routes are served (fixes the prefix when read). */
  basePath: BasePath;
}

/** Brings a token mode and its options into the core. */
export interface ModePlugin {
  /** The options it reads from the same object, so the core does not refuse them as unknown. */
  optionNames: readonly string[];
  /** Its token mode, or undefined for passthrough. */
  create(services: ModeServices): TokenMode | undefined;
}

export type SecretSource = "secret" | "clientSecret" | "random";

export class AuthCore {
  readonly #options: ResolvedOptions;
  readonly #context: EndpointContext;
  readonly #bearer: BearerCheck;
  readonly #basePath: BasePath;
  readonly #resource: ProtectedResource;
  readonly #sessions: BrowserSessions | undefined;
  readonly #publicOrigin: string | undefined;

  constructor(options: CoreOptions, plugin?: ModePlugin) {
    const resolved = resolveOptions(options, plugin?.optionNames);
    const idp = new IdentityProvider(resolved);
    const idpTokens = new TokenVerifier(idp, resolved);
    const { secrets, secretsFrom } = effectiveSecrets(resolved);
    this.#basePath = new BasePath(resolved.proxy);
    const mode: TokenMode =
      plugin?.create({ options: resolved, idp, secrets, secretsFrom, basePath: this.#basePath }) ??
      new PassthroughMode(idp, idpTokens, resolved.logger);
    this.#options = resolved;
    this.#resource = new ProtectedResource(resolved, this.#basePath);
    this.#sessions = browserSessions(resolved, secrets, mode);
    this.#publicOrigin = resolved.proxy?.origin;
    this.#bearer = new BearerCheck((token) => mode.verify(token), resolved, {
      ...(mode.verifyNow === undefined ? {} : { verifyNow: (token) => mode.verifyNow?.(token) }),
      ...(mode.sessionRevoked === undefined ? {} : { sessionRevoked: mode.sessionRevoked }),
    });
    this.#context = {
      options: resolved,
      idp,
      mode,
      idpTokens,
      loginState: new LoginStateSealer(
        secrets,
        resolved.loginTimeoutSeconds,
        mode.usedOnce ?? new MemoryUsedOnceRegistry(),
      ),
      redirects: new RedirectPolicy(resolved.allowedRedirectUris),
      resource: this.#resource,
      sessions: this.#sessions,
      verifyBearer: (authorization) => this.#bearer.claims(authorization),
    };
    warnAboutDefaults(resolved, secretsFrom, this.#context.redirects);
  }

  /**
   * Connects to the IdP (discovery) and the token mode's store now, for an
   * app that wants to fail at start-up rather than at the first request
   * (README "Lifecycle"). Throws an Error that says what failed: the URL
   * without credentials, the HTTP status or errno, the store's own words.
   */
  async ready(): Promise<void> {
    await this.#context.idp.ready();
    await this.#context.mode.ready?.();
  }

  /**
   * Closes what the library opened (store connections, pools, timers), so
   * that the process can exit by itself. The auth object is not usable after.
   */
  async close(): Promise<void> {
    await this.#context.mode.close?.();
  }

  /**
   * The enabled endpoints with their paths below `router.prefix`, for an
   * adapter to mount. The first router fixes the prefix (see base-path.ts).
   */
  routes(router: RouterOptions = {}): Route[] {
    this.#basePath.use(router.prefix);
    return routesOf(this.#context, router).map((route) => ({
      ...route,
      handle: (request: AuthRequest) =>
        route.handle(
          request.browser === undefined
            ? request
            : { ...request, browser: this.#browser(request.browser) },
        ),
    }));
  }

  /** A guard for `required()` (optional false) or `optional()` (true), compiled once. */
  guard(requirement: Requirement = {}, optional = false): Guard {
    const logger = this.#options.logger;
    const toAuthError = (error: unknown) => asAuthError(error, logger);
    const bearer = this.#bearerGuard(requirement, optional, toAuthError);
    if (this.#sessions === undefined) return bearer;
    return sessionGuard(bearer, this.#sessions, toAuthError, (browser) => this.#browser(browser));
  }

  /**
   * An optional guard that reads the browser session without renewing it,
   * for places that cannot set cookies (Next.js Server Components).
   */
  sessionReader(requirement: Requirement = {}): Guard {
    const logger = this.#options.logger;
    const toAuthError = (error: unknown) => asAuthError(error, logger);
    const bearer = this.#bearerGuard(requirement, true, toAuthError);
    if (this.#sessions === undefined) return bearer;
    return sessionGuard(
      bearer,
      this.#sessions,
      toAuthError,
      (browser) => this.#browser(browser),
      false,
    );
  }

  #bearerGuard(
    requirement: Requirement,
    optional: boolean,
    toAuthError: (error: unknown) => AuthError,
  ): Guard {
    return createGuard(this.#bearer, requirement, this.#options, optional, toAuthError, (origin) =>
      this.#resource.metadataUrl(origin),
    );
  }

  /** Whether browser sessions are on (docs/browser-sessions.md "Browser sessions"). */
  get browserSessions(): boolean {
    return this.#sessions !== undefined;
  }

  /** The request's own origin is the public one when `proxy` names it (README "Configuration"). */
  #browser(browser: BrowserRequest): BrowserRequest {
    return this.#publicOrigin === undefined ? browser : { ...browser, origin: this.#publicOrigin };
  }
}

/** Browser sessions when the option is on; `store: "broker"` needs a mode that keeps sessions. */
function browserSessions(
  options: ResolvedOptions,
  secrets: readonly Uint8Array[],
  mode: TokenMode,
): BrowserSessions | undefined {
  const settings = options.browserSessions;
  if (settings === undefined) return undefined;
  const store = settings.store ?? (mode.lifecycle === undefined ? "cookie" : "broker");
  if (store === "broker" && mode.lifecycle === undefined) {
    throw new ConfigurationError(
      "browserSessions.store",
      '"broker" needs brokerMode: true (passthrough mode keeps no sessions to look up)',
    );
  }
  return new BrowserSessions(
    secrets,
    { ...settings, store, loginTimeoutSeconds: options.loginTimeoutSeconds },
    mode,
  );
}

/**
 * The configured secrets; else the client secret, which every instance of
 * one app shares (each use derives its own key from it, keyring.ts); else,
 * for a public client, a random one of this process's own.
 */
function effectiveSecrets(options: ResolvedOptions): {
  secrets: readonly Uint8Array[];
  secretsFrom: SecretSource;
} {
  if (options.secrets !== undefined) return { secrets: options.secrets, secretsFrom: "secret" };
  if (options.clientSecret !== undefined) {
    return {
      secrets: [new TextEncoder().encode(options.clientSecret)],
      secretsFrom: "clientSecret",
    };
  }
  return { secrets: [crypto.getRandomValues(new Uint8Array(32))], secretsFrom: "random" };
}

function warnAboutDefaults(
  options: ResolvedOptions,
  secretsFrom: SecretSource,
  redirects: RedirectPolicy,
): void {
  const { logger } = options;
  if (secretsFrom === "random") {
    logger.warn(
      'No "secret" and no "clientSecret": login state is sealed with a random per-process key, so a login started on one instance (or before a restart) cannot finish on another. Configure "secret" (32+ random bytes) to share logins between instances.',
    );
  }
  if (!redirects.restricted) {
    logger.warn(
      'No "allowedRedirectUris" configured: /login and /logout accept any http(s) redirect URI. Configure the allow-list to rule out open redirects.',
    );
  }
}
