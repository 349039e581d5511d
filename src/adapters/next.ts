/**
 * Next.js (App Router) adapter: the auth endpoints as the route handlers of
 * one catch-all route file, and the Web-standard guards for protected route
 * handlers. Route handlers take and return web `Request`/`Response` objects
 * (`NextRequest` extends `Request`), so nothing of Next.js is needed at run
 * time: it works in the Node.js and the Edge runtime alike.
 */
import type { AuthCore } from "../core/auth-core.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import { notFound } from "./fetch.ts";
import { type WebAuth, WebOIDCAuth, webAuth } from "./web.ts";

/** A route handler as Next.js calls it: `(request, { params })`. */
export type RouteHandler = (request: Request) => Promise<Response>;

export type RouteHandlers = { GET: RouteHandler; POST: RouteHandler };

export interface NextAuth extends WebAuth {
  routeHandlers(options?: RouterOptions): RouteHandlers;
}

/**
 * `GET` and `POST` for `app/<prefix>/[...auth]/route.ts`. The prefix is the
 * folder of that route file. Paths the catch-all receives that are no
 * endpoint answer a JSON 404; more specific route files beside it (e.g.
 * `app/api/auth/v2/auth-ports/route.ts`) win over it.
 */
export function nextAuth(auth: AuthCore): NextAuth {
  const web = webAuth(auth);
  return {
    ...web,
    routeHandlers(options = {}) {
      const handle = web.handler(options);
      const route: RouteHandler = async (request) => (await handle(request)) ?? notFound();
      return { GET: route, POST: route };
    },
  };
}

export class NextOIDCAuth extends WebOIDCAuth {
  /** `export const { GET, POST } = auth.routeHandlers({ prefix: "/api" })` in the catch-all route file. */
  routeHandlers(options?: RouterOptions): RouteHandlers {
    return nextAuth(this).routeHandlers(options);
  }
}

export type { GuardWrapper, IDToken, Requirement, RouterOptions } from "./web.ts";
