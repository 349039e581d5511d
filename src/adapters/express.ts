/**
 * Express 5 adapter: translates Express requests and responses to the
 * core's `AuthRequest` / `AuthResponse`, nothing more.
 */
// A static import, no top-level await: the module loads under require(esm)
// (README "CommonJS"); a missing express is Node's own "Cannot find package".
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
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

declare global {
  namespace Express {
    interface Request {
      /** The validated token's claims; set by `required()`, `undefined` when `optional()` finds none. */
      token?: IDToken;
      /** The browser session that authenticated the request (docs/browser-sessions.md "Browser sessions"), if one did. */
      authSession?: BrowserSession;
    }
  }
}

export interface ExpressAuth {
  /** A standard `express.Router` with the auth endpoints below `options.prefix`; add routes, then `app.use(router)`. */
  createAuthRouter(options?: RouterOptions): Router;
  /** Middleware: a valid token (meeting the requirement) or a 401/403/503 JSON error. */
  required(requirement?: Requirement): RequestHandler;
  /** Middleware: `req.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): RequestHandler;
}

/** The Express face of an auth object. */
export function expressAuth(auth: AuthCore): ExpressAuth {
  return {
    createAuthRouter: (options = {}) => authRouter(auth, options),
    required: (requirement) => guardMiddleware(auth.guard(requirement, false)),
    optional: (requirement) => guardMiddleware(auth.guard(requirement, true)),
  };
}

export class ExpressOIDCAuth extends OIDCAuth implements ExpressAuth {
  readonly #express = expressAuth(this);
  createAuthRouter(options?: RouterOptions): Router {
    return this.#express.createAuthRouter(options);
  }
  required(requirement?: Requirement): RequestHandler {
    return this.#express.required(requirement);
  }
  optional(requirement?: Requirement): RequestHandler {
    return this.#express.optional(requirement);
  }
}

/** Routes added to the returned router are served below the prefix, as on the seed's blueprint. */
function authRouter(auth: AuthCore, options: RouterOptions): Router {
  const router = express.Router();
  for (const route of auth.routes(options)) {
    const method = route.method === "GET" ? "get" : "post";
    router[method](route.path, async (req, res) => {
      send(res, await route.handle(toAuthRequest(req)));
    });
  }
  if (!options.prefix) return router;
  const mounted = express.Router();
  mounted.use(options.prefix, router);
  // The caller mounts `mounted` but adds its routes to `router`, below the prefix.
  const routing = mounted as unknown as Record<RoutingMethod, unknown>;
  for (const name of [...ROUTING_METHODS, "use", "route"] as const)
    routing[name] = router[name].bind(router);
  return mounted;
}

const ROUTING_METHODS = [
  "all",
  "get",
  "post",
  "put",
  "patch",
  "delete",
  "options",
  "head",
] as const;
type RoutingMethod = (typeof ROUTING_METHODS)[number] | "use" | "route";

function toAuthRequest(req: Request) {
  return nodeAuthRequest(req, req.originalUrl, () => nodeRequestBody(req, req.body));
}

/** The guard's outcome applied; without a promise when the guard answers at once (guard.ts). */
function guardMiddleware(guard: Guard): RequestHandler {
  const apply = (req: Request, res: Response, next: NextFunction, outcome: GuardOutcome) => {
    if (outcome.kind === "denied") return send(res, outcome.response);
    if (outcome.cookies?.length) res.append("set-cookie", outcome.cookies);
    req.token = outcome.kind === "token" ? outcome.token : undefined;
    req.authSession = outcome.kind === "token" ? outcome.session : undefined;
    next();
  };
  return (req, res, next) => {
    const outcome = guard(
      nodeAuthorization(req),
      () => nodeOrigin(req),
      () => nodeBrowser(req),
    );
    if (!(outcome instanceof Promise)) return apply(req, res, next, outcome);
    return outcome.then((settled) => apply(req, res, next, settled));
  };
}

function send(res: Response, response: AuthResponse): void {
  res.status(response.status).set(response.headers);
  if (response.cookies?.length) res.append("set-cookie", response.cookies);
  if (response.body === undefined) res.end();
  else res.json(response.body);
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
