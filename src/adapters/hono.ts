/**
 * Hono 4 adapter: a Hono app with the auth endpoints and guard middleware,
 * built on the Web-standard adapter's translation (Hono's `c.req.raw` is a
 * web `Request`), so it runs wherever Hono runs.
 */
import type { Hono as HonoApp, MiddlewareHandler } from "hono";
import type { IDToken, Requirement } from "../core/claims.ts";
import { type Guard, OIDCAuth, type RouterOptions } from "../core/oidc-auth.ts";
import { importPeer } from "../core/peer.ts";
import { authorizationOf, toAuthRequest, toResponse } from "./web.ts";

// A literal import() lets bundlers (wrangler, esbuild) include hono.
const { Hono } = await importPeer<typeof import("hono")>(
  "hono",
  "ts-oidc-auth/hono",
  () => import("hono"),
);

/** What the guards put into the context: `c.get("token")`. */
export type TokenVariables<T extends IDToken | undefined> = { Variables: { token: T } };

export class HonoOIDCAuth extends OIDCAuth {
  /**
   * A Hono app with the auth endpoints below `options.prefix` (its base
   * path): add your own routes to it, then `app.route("/", authApp)`.
   */
  app(options: RouterOptions = {}): HonoApp {
    const app = new Hono().basePath(options.prefix ?? "/");
    for (const route of this.routes(options)) {
      app.on(route.method, route.path, async (c) =>
        toResponse(await route.handle(toAuthRequest(c.req.raw, this.options.maxBodyBytes))),
      );
    }
    return app;
  }

  /** Middleware: a valid token (meeting the requirement), as `c.get("token")`, or a 401/403/503. */
  required(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken>> {
    return middleware<IDToken>(this.guard(requirement, false));
  }

  /** Middleware: `c.get("token")` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): MiddlewareHandler<TokenVariables<IDToken | undefined>> {
    return middleware<IDToken | undefined>(this.guard(requirement, true));
  }
}

function middleware<T extends IDToken | undefined>(
  guard: Guard,
): MiddlewareHandler<TokenVariables<T>> {
  return async (c, next) => {
    const fromNode = nodeAuthorization(c.env);
    const outcome = await guard(
      fromNode === undefined ? authorizationOf(c.req.raw) : (fromNode ?? undefined),
    );
    if (outcome.kind === "denied") return toResponse(outcome.response);
    // Only an optional guard lets a caller through without a token; T admits undefined there.
    c.set("token", (outcome.kind === "token" ? outcome.token : undefined) as T);
    await next();
  };
}

/**
 * On Node.js, @hono/node-server passes its `IncomingMessage` and
 * `ServerResponse` as `c.env.incoming` / `c.env.outgoing`: reading the header
 * there skips building web `Headers` on every request. Anything else in
 * `c.env` (a Worker's bindings) is left alone. The header, null when Node's
 * request has none, or undefined when this is no Node request: then the web
 * Request is asked.
 */
function nodeAuthorization(env: unknown): string | null | undefined {
  const { incoming, outgoing } = (env ?? {}) as {
    incoming?: { headers?: { authorization?: unknown } };
    outgoing?: unknown;
  };
  const headers = outgoing === undefined ? undefined : incoming?.headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  const { authorization } = headers;
  if (authorization === undefined) return null;
  return typeof authorization === "string" ? authorization : undefined;
}

export type { IDToken, Requirement, RouterOptions };
