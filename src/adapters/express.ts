/**
 * Express 5 adapter: translates Express requests and responses to the core's
 * `AuthRequest` / `AuthResponse`, nothing more.
 */
import type { Request, RequestHandler, Response, Router } from "express";
import type { IDToken, Requirement } from "../core/claims.ts";
import { type AuthRequest, type AuthResponse, readBody } from "../core/http.ts";
import { type Guard, OIDCAuth, type RouterOptions } from "../core/oidc-auth.ts";
import { importPeer } from "../core/peer.ts";

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
    const router = express.Router();
    const prefix = options.prefix ?? "";
    for (const route of this.routes(options)) {
      const method = route.method === "GET" ? "get" : "post";
      router[method](prefix + route.path, async (req, res) => {
        send(res, await route.handle(this.toAuthRequest(req)));
      });
    }
    return router;
  }

  /** Middleware: a valid token (meeting the requirement) or a 401/403/503 JSON error. */
  required(requirement?: Requirement): RequestHandler {
    return guardMiddleware(this.guard(requirement, false));
  }

  /** Middleware: `req.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): RequestHandler {
    return guardMiddleware(this.guard(requirement, true));
  }

  private toAuthRequest(req: Request): AuthRequest {
    const url = req.originalUrl;
    const queryStart = url.indexOf("?");
    return {
      method: req.method,
      query: new URLSearchParams(queryStart < 0 ? "" : url.slice(queryStart + 1)),
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body: () => this.body(req),
    };
  }

  private async body(req: Request): Promise<Uint8Array> {
    // A body parser mounted before the router has already read the stream.
    if (req.readableEnded) return new TextEncoder().encode(encodeParsedBody(req.body));
    return readBody(req, this.options.maxBodyBytes);
  }
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

function encodeParsedBody(body: unknown): string {
  const params = new URLSearchParams();
  if (typeof body === "object" && body !== null) {
    for (const [name, value] of Object.entries(body)) {
      for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
    }
  }
  return params.toString();
}

export type { IDToken, Requirement, RouterOptions };
