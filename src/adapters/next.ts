/**
 * Next.js (App Router) adapter: the auth endpoints as the route handlers of
 * one catch-all route file, and the Web-standard guards for protected route
 * handlers. Route handlers take and return web `Request`/`Response` objects
 * (`NextRequest` extends `Request`), so nothing of Next.js is needed at run
 * time: it works in the Node.js and the Edge runtime alike.
 */
import type { RouterOptions } from "../core/oidc-auth.ts";
import { notFound, WebOIDCAuth } from "./web.ts";

/** A route handler as Next.js calls it: `(request, { params })`. */
export type RouteHandler = (request: Request) => Promise<Response>;

export class NextOIDCAuth extends WebOIDCAuth {
  /**
   * `GET` and `POST` for `app/<prefix>/[...auth]/route.ts`:
   * `export const { GET, POST } = auth.routeHandlers({ prefix: "/api" })`.
   * The prefix is the folder of that route file. Paths the catch-all
   * receives that are no endpoint answer a JSON 404; more specific route
   * files beside it (e.g. `app/api/auth/v2/auth-ports/route.ts`) win over it.
   */
  routeHandlers(options: RouterOptions = {}): { GET: RouteHandler; POST: RouteHandler } {
    const handle = this.handler(options);
    const route: RouteHandler = async (request) => (await handle(request)) ?? notFound();
    return { GET: route, POST: route };
  }
}

export type { GuardWrapper, IDToken, Requirement, RouterOptions } from "./web.ts";
