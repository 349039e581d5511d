/**
 * Web-standard adapter: the auth endpoints as one `Request -> Response`
 * function (with your own routes below the same prefix), and guards for
 * fetch-shaped handlers. It uses only web APIs, so it runs as is on Bun,
 * Deno, Cloudflare Workers and Node's fetch-shaped servers.
 */
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import { missingToken } from "../core/errors.ts";
import type { Guard } from "../core/guard.ts";
import { errorResponse } from "../core/http.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { OIDCAuth } from "../oidc-auth.ts";
import {
  guardRequest,
  notFound,
  sessionOf,
  toAuthRequest,
  toResponse,
  withCookies,
} from "./fetch.ts";

type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * Answers an auth endpoint or one of the routes added to it, or gives
 * `undefined` when the request is for none of them, for the caller's other routes.
 */
export interface AuthHandler {
  (request: Request): Promise<Response | undefined>;
  /** Adds a route of your own below the prefix, e.g. `get("/auth/v2/auth-ports", …)`. */
  get(path: string, handler: FetchHandler): AuthHandler;
  post(path: string, handler: FetchHandler): AuthHandler;
}

/**
 * Wraps a fetch-shaped handler, which receives the token after the request
 * and before whatever else the runtime passes (Workers' env and context,
 * Next.js's `{ params }`).
 */
export type GuardWrapper<T> = <R extends Request, A extends unknown[]>(
  handler: (request: R, token: T, ...args: A) => Response | Promise<Response>,
) => (request: R, ...args: A) => Promise<Response>;

export interface WebAuth {
  handler(options?: RouterOptions): AuthHandler;
  authenticate(request: Request, requirement?: Requirement): Promise<IDToken | Response>;
  required(requirement?: Requirement): GuardWrapper<IDToken>;
  optional(requirement?: Requirement): GuardWrapper<IDToken | undefined>;
  /** The browser session a guard admitted `request` with (docs/browser-sessions.md "Browser sessions"), if one did. */
  session(request: Request): BrowserSession | undefined;
}

/** The Web-standard face of an auth object. */
export function webAuth(auth: AuthCore): WebAuth {
  return {
    handler: (options = {}) => authHandler(auth, options),
    async authenticate(request, requirement) {
      const guard = auth.guard(requirement, false);
      const checked = await guardRequest(guard, request, auth.browserSessions);
      if (checked instanceof Response) return checked;
      // A required guard never answers "anonymous"; should it ever, refuse rather than pass.
      return checked.token ?? toResponse(errorResponse(missingToken()));
    },
    required: (requirement) =>
      wrapWith<IDToken>(auth.guard(requirement, false), auth.browserSessions),
    optional: (requirement) =>
      wrapWith<IDToken | undefined>(auth.guard(requirement, true), auth.browserSessions),
    session: sessionOf,
  };
}

export class WebOIDCAuth extends OIDCAuth implements WebAuth {
  readonly #web = webAuth(this);
  /** The auth endpoints as one function, below `options.prefix`; add your own routes with `get`/`post`. */
  handler(options?: RouterOptions): AuthHandler {
    return this.#web.handler(options);
  }
  /**
   * The request's validated token, or the ready 401/403/503 `Response`;
   * compiles the requirement per call. A browser session's renewed cookie
   * is not sent from here: guard session routes with `required()` or
   * `optional()` (docs/browser-sessions.md "Guards").
   */
  authenticate(request: Request, requirement?: Requirement): Promise<IDToken | Response> {
    return this.#web.authenticate(request, requirement);
  }
  /** `auth.required({ scopes })(async (request, token) => Response.json(...))`: 401/403/503 or the handler. */
  required(requirement?: Requirement): GuardWrapper<IDToken> {
    return this.#web.required(requirement);
  }
  /** Like `required()`, but an anonymous or unacceptable caller reaches the handler with `undefined`. */
  optional(requirement?: Requirement): GuardWrapper<IDToken | undefined> {
    return this.#web.optional(requirement);
  }
  /** The browser session a guard admitted `request` with, if one did: `auth.session(request)?.accessToken()`. */
  session(request: Request): BrowserSession | undefined {
    return this.#web.session(request);
  }
}

function authHandler(auth: AuthCore, options: RouterOptions): AuthHandler {
  const prefix = options.prefix ?? "";
  const routes = new Map<string, FetchHandler>();
  for (const route of auth.routes(options)) {
    routes.set(`${route.method} ${prefix}${route.path}`, async (request) =>
      toResponse(await route.handle(toAuthRequest(request))),
    );
  }
  const add = (method: string, path: string, route: FetchHandler) => {
    routes.set(`${method} ${prefix}${path}`, route);
    return handler;
  };
  const handler: AuthHandler = Object.assign(
    async (request: Request) =>
      routes.get(`${request.method} ${new URL(request.url).pathname}`)?.(request),
    {
      get: (path: string, route: FetchHandler) => add("GET", path, route),
      post: (path: string, route: FetchHandler) => add("POST", path, route),
    },
  );
  return handler;
}

function wrapWith<T extends IDToken | undefined>(guard: Guard, sessions: boolean): GuardWrapper<T> {
  return (handler) =>
    async (request, ...args) => {
      const checked = await guardRequest(guard, request, sessions);
      if (checked instanceof Response) return checked;
      // Only an optional guard lets a caller through without a token; T admits undefined there.
      return withCookies(await handler(request, checked.token as T, ...args), checked.cookies);
    };
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
export { notFound };
