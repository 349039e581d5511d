/**
 * Koa 3 adapter with @koa/router: a router with the auth endpoints and guard
 * middleware, translating Koa's context to the core and back.
 */
import type { RouterInstance } from "@koa/router";
// Static imports, no top-level await (README "CommonJS").
import { Router } from "@koa/router";
import type { Context, Middleware, Next } from "koa";
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import type { Guard, GuardOutcome } from "../core/guard.ts";
import type { AuthResponse } from "../core/http.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { OIDCAuth } from "../oidc-auth.ts";
import {
  nodeAuthorization,
  nodeAuthRequest,
  nodeBrowser,
  nodeOrigin,
  nodeRequestBody,
} from "./node-request.ts";

declare module "koa" {
  interface DefaultState {
    /** The validated token's claims; set by `required()`, `undefined` when `optional()` finds none. */
    token?: IDToken;
    /** The browser session that authenticated the request (docs/browser-sessions.md "Browser sessions"), if one did. */
    authSession?: BrowserSession;
  }
}

export interface KoaAuth {
  /**
   * A `@koa/router` Router with the auth endpoints below `options.prefix`
   * (the router's prefix): add your own routes to it, then
   * `app.use(router.routes()).use(router.allowedMethods())`.
   */
  createAuthRouter(options?: RouterOptions): RouterInstance;
  /** Middleware: a valid token (meeting the requirement) in `ctx.state.token`, or a 401/403/503 JSON error. */
  required(requirement?: Requirement): Middleware;
  /** Middleware: `ctx.state.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): Middleware;
}

/** The Koa face of an auth object. */
export function koaAuth(auth: AuthCore): KoaAuth {
  return {
    createAuthRouter(options = {}) {
      const router = new Router(options.prefix ? { prefix: options.prefix } : {});
      for (const route of auth.routes(options)) {
        const method = route.method === "GET" ? "get" : "post";
        router[method](route.path, async (ctx) => {
          send(ctx, await route.handle(toAuthRequest(ctx)));
        });
      }
      return router;
    },
    required: (requirement) => middleware(auth.guard(requirement, false)),
    optional: (requirement) => middleware(auth.guard(requirement, true)),
  };
}

export class KoaOIDCAuth extends OIDCAuth implements KoaAuth {
  readonly #koa = koaAuth(this);
  createAuthRouter(options?: RouterOptions): RouterInstance {
    return this.#koa.createAuthRouter(options);
  }
  required(requirement?: Requirement): Middleware {
    return this.#koa.required(requirement);
  }
  optional(requirement?: Requirement): Middleware {
    return this.#koa.optional(requirement);
  }
}

function toAuthRequest(ctx: Context) {
  // koa-bodyparser and friends put what they parsed here.
  const parsed = (ctx.request as { body?: unknown }).body;
  return nodeAuthRequest(ctx.req, ctx.originalUrl, () => nodeRequestBody(ctx.req, parsed));
}

/** The guard's outcome applied; without a promise of ours when the guard answers at once (guard.ts). */
function middleware(guard: Guard): Middleware {
  const apply = (ctx: Context, next: Next, outcome: GuardOutcome) => {
    if (outcome.kind === "denied") return send(ctx, outcome.response);
    if (outcome.cookies?.length) ctx.append("set-cookie", outcome.cookies);
    ctx.state.token = outcome.kind === "token" ? outcome.token : undefined;
    ctx.state.authSession = outcome.kind === "token" ? outcome.session : undefined;
    return next();
  };
  return (ctx, next) => {
    const outcome = guard(
      nodeAuthorization(ctx.req),
      () => nodeOrigin(ctx.req),
      () => nodeBrowser(ctx.req),
    );
    if (!(outcome instanceof Promise)) return apply(ctx, next, outcome);
    return outcome.then((settled) => apply(ctx, next, settled));
  };
}

function send(ctx: Context, response: AuthResponse): void {
  ctx.set(response.headers);
  if (response.cookies?.length) ctx.append("set-cookie", response.cookies);
  // An explicit null body stays empty; set before the status, which Koa
  // would otherwise turn into 204.
  ctx.body = response.body === undefined ? null : response.body;
  ctx.status = response.status;
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
