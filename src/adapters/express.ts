/**
 * Express 5 adapter: translates Express requests and responses to the core's
 * `AuthRequest` / `AuthResponse`, nothing more.
 */
import type { Request, RequestHandler, Response, Router } from "express";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { AuthRequest, AuthResponse } from "../core/http.ts";
import { type Guard, OIDCAuth, type RouterOptions } from "../core/oidc-auth.ts";
import { importPeer } from "../core/peer.ts";
import { nodeAuthRequest, nodeRequestBody } from "./node-request.ts";

const express = (
  await importPeer<{ default: typeof import("express") }>("express", "ts-oidc-auth/express")
).default;

declare global {
  namespace Express {
    interface Request {
      /** The validated token's claims; set by `required()`, `undefined` when `optional()` finds none. */
      token?: IDToken;
    }
  }
}

export class ExpressOIDCAuth extends OIDCAuth {
  /** A standard `express.Router` with the auth endpoints; add routes, then `app.use(router)`. */
  createAuthRouter(options: RouterOptions = {}): Router {
    return expressAuthRouter(this, options);
  }

  /** Middleware: a valid token (meeting the requirement) or a 401/403/503 JSON error. */
  required(requirement?: Requirement): RequestHandler {
    return guardMiddleware(this.guard(requirement, false));
  }

  /** Middleware: `req.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): RequestHandler {
    return guardMiddleware(this.guard(requirement, true));
  }
}

/** The auth endpoints of any `OIDCAuth` as an Express router (also used by the NestJS module). */
export function expressAuthRouter(auth: OIDCAuth, options: RouterOptions = {}): Router {
  const router = express.Router();
  const prefix = options.prefix ?? "";
  for (const route of auth.routes(options)) {
    const method = route.method === "GET" ? "get" : "post";
    router[method](prefix + route.path, async (req, res) => {
      send(res, await route.handle(toAuthRequest(req, auth.options.maxBodyBytes)));
    });
  }
  return router;
}

function toAuthRequest(req: Request, maxBodyBytes: number): AuthRequest {
  return nodeAuthRequest(req, req.originalUrl, () => nodeRequestBody(req, req.body, maxBodyBytes));
}

function guardMiddleware(guard: Guard): RequestHandler {
  return async (req, res, next) => {
    const outcome = await guard(req.headers.authorization);
    if (outcome.kind === "denied") return send(res, outcome.response);
    req.token = outcome.kind === "token" ? outcome.token : undefined;
    next();
  };
}

function send(res: Response, response: AuthResponse): void {
  res.status(response.status).set(response.headers);
  if (response.body === undefined) res.end();
  else res.json(response.body);
}

export type { IDToken, Requirement, RouterOptions };
