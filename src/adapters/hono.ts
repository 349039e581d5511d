/**
 * Hono 4 adapter: a Hono app with the auth endpoints and guard middleware,
 * built on the Web-standard adapter's translation (Hono's `c.req.raw` is a
 * web `Request`), so it runs wherever Hono runs.
 */
import type { IncomingMessage } from "node:http";
// Static imports, no top-level await (README "CommonJS"); bundlers follow them.
import { type Context, Hono, type Hono as HonoApp, type MiddlewareHandler, type Next } from "hono";
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import type { Guard, GuardOutcome } from "../core/guard.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { OIDCAuth } from "../oidc-auth.ts";
import { authorizationOf, browserOf, toAuthRequest, toResponse, withCookies } from "./fetch.ts";
import { nodeAuthorization } from "./node-request.ts";

/** What the guards put into the context: `c.get("token")`, and `c.get("authSession")` for a browser session. */
export type TokenVariables<T extends IDToken | undefined> = {
  Variables: { token: T; authSession: BrowserSession | undefined };
};

export interface HonoAuth {
  /**
   * A Hono app with the auth endpoints below `options.prefix` (its base
   * path): add your own routes to it, then `app.route("/", authApp)`.
   */
  app(options?: RouterOptions): HonoApp;
  /** Middleware: a valid token (meeting the requirement), as `c.get("token")`, or a 401/403/503. */
  required(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken>>;
  /** Middleware: `c.get("token")` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken | undefined>>;
}

/** The Hono face of an auth object. */
export function honoAuth(auth: AuthCore): HonoAuth {
  return {
    app(options = {}) {
      const app = new Hono().basePath(options.prefix ?? "/");
      for (const route of auth.routes(options)) {
        app.on(route.method, route.path, async (c) =>
          toResponse(await route.handle(toAuthRequest(c.req.raw))),
        );
      }
      return app;
    },
    required: (requirement) =>
      middleware<IDToken>(auth.guard(requirement, false), auth.browserSessions),
    optional: (requirement) =>
      middleware<IDToken | undefined>(auth.guard(requirement, true), auth.browserSessions),
  };
}

export class HonoOIDCAuth extends OIDCAuth implements HonoAuth {
  readonly #hono = honoAuth(this);
  app(options?: RouterOptions): HonoApp {
    return this.#hono.app(options);
  }
  required(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken>> {
    return this.#hono.required(requirement);
  }
  optional(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken | undefined>> {
    return this.#hono.optional(requirement);
  }
}

function middleware<T extends IDToken | undefined>(
  guard: Guard,
  sessions: boolean,
): MiddlewareHandler<TokenVariables<T>> {
  // Only an optional guard lets a caller through without a token; T admits undefined there.
  const apply = (
    c: Context<TokenVariables<T>>,
    next: Next,
    outcome: GuardOutcome,
  ): ReturnType<MiddlewareHandler> => {
    if (outcome.kind === "denied") return Promise.resolve(toResponse(outcome.response));
    c.set("token", (outcome.kind === "token" ? outcome.token : undefined) as T);
    c.set("authSession", outcome.kind === "token" ? outcome.session : undefined);
    const cookies = outcome.cookies;
    if (!cookies?.length) return next();
    return next().then(() => addCookies(c, cookies));
  };
  // Without a promise of ours when the guard answers at once (guard.ts).
  return (c, next) => {
    const fromNode = authorizationFromNode(c.env);
    const outcome = guard(
      fromNode === undefined ? authorizationOf(c.req.raw) : (fromNode ?? undefined),
      () => new URL(c.req.url).origin,
      // Web headers are read for the session only when there is no bearer token to check.
      sessions ? () => browserOf(c.req.raw) : undefined,
    );
    if (!(outcome instanceof Promise)) return apply(c, next, outcome);
    return outcome.then((settled) => apply(c, next, settled));
  };
}

/**
 * The guard's `Set-Cookie` values on the app's response. Assigning `c.res`
 * would keep the old response's cookies only, so a response with immutable
 * headers is copied and put in place of none.
 */
function addCookies(c: { res: Response }, cookies: string[]): void {
  const copy = withCookies(c.res, cookies);
  if (copy === c.res) return;
  (c as { res: Response | undefined }).res = undefined;
  c.res = copy;
}

/**
 * On Node.js, @hono/node-server passes its `IncomingMessage` and
 * `ServerResponse` as `c.env.incoming` / `c.env.outgoing`: reading the header
 * there skips building web `Headers` on every request. Anything else in
 * `c.env` (a Worker's bindings) is left alone. The header, null when Node's
 * request has none, or undefined when this is no Node request: then the web
 * Request is asked.
 */
function authorizationFromNode(env: unknown): string | null | undefined {
  const { incoming, outgoing } = (env ?? {}) as {
    incoming?: { headers?: { authorization?: unknown }; rawHeaders?: unknown };
    outgoing?: unknown;
  };
  const headers = outgoing === undefined ? undefined : incoming?.headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  const { authorization } = headers;
  if (authorization === undefined) return null;
  if (typeof authorization !== "string") return undefined;
  // Repeated headers are in the raw list only (see node-request.ts).
  return Array.isArray(incoming?.rawHeaders)
    ? (nodeAuthorization(incoming as IncomingMessage) ?? null)
    : authorization;
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
