/**
 * Next.js (App Router) adapter: the auth endpoints as the route handlers of
 * one catch-all route file, and the Web-standard guards for protected route
 * handlers. Route handlers take and return web `Request`/`Response` objects
 * (`NextRequest` extends `Request`), so nothing of Next.js is needed at run
 * time: it works in the Node.js and the Edge runtime alike.
 */
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import type { BrowserRequest } from "../core/http.ts";
import { DEFAULT_PATHS } from "../core/paths.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { browserOf, notFound } from "./fetch.ts";
import { type WebAuth, WebOIDCAuth, webAuth } from "./web.ts";

/** What `cookies()` from `next/headers` gives (only the part read here). */
export interface CookieStore {
  getAll(): Array<{ name: string; value: string }>;
}

/** What `headers()` from `next/headers` gives (only the part read here). */
export interface HeaderStore {
  get(name: string): string | null;
}

/** Where a Server Component finds the session: `{ cookies: await cookies(), headers: await headers() }`. */
export interface ServerContext {
  cookies: CookieStore;
  headers: HeaderStore;
}

/** A signed-in user: the token's claims and the session (absent for a bearer caller). */
export interface SignedIn {
  token: IDToken;
  session: BrowserSession | undefined;
}

/** A route handler as Next.js calls it: `(request, { params })`. */
export type RouteHandler = (request: Request) => Promise<Response>;

export type RouteHandlers = { GET: RouteHandler; POST: RouteHandler };

export interface NextAuth extends WebAuth {
  routeHandlers(options?: RouterOptions): RouteHandlers;
  /**
   * The signed-in user of a Server Component (`{ cookies: await cookies(),
   * headers: await headers() }`), a route handler or middleware (the
   * `Request`), or undefined. It only reads the session: cookies are renewed
   * by the guards (`required()`/`optional()`) of route handlers, so put one
   * such call where sessions should roll (docs/browser-sessions.md "Next.js sessions").
   */
  currentUser(
    from: Request | ServerContext,
    requirement?: Requirement,
  ): Promise<SignedIn | undefined>;
  /**
   * The URL of the login that comes back to `returnTo` (a URL of this app):
   * `redirect(auth.loginUrl(url))` in a Server Component,
   * `Response.redirect(auth.loginUrl(request.url))` in middleware.
   */
  loginUrl(
    returnTo: string,
    options?: Pick<RouterOptions, "prefix" | "login" | "callback">,
  ): string;
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
    async currentUser(from, requirement) {
      const browser = from instanceof Request ? browserOf(from) : serverBrowser(from);
      const authorization = from instanceof Request ? from.headers.get("authorization") : null;
      const outcome = await auth.sessionReader(requirement)(
        authorization ?? undefined,
        () => browser.origin,
        () => browser,
      );
      return outcome.kind === "token"
        ? { token: outcome.token, session: outcome.session }
        : undefined;
    },
    loginUrl(returnTo, options = {}) {
      const target = new URL(returnTo);
      const prefix = options.prefix ?? "";
      const callback = `${target.origin}${prefix}${options.callback ?? DEFAULT_PATHS.callback}`;
      const login = new URL(`${prefix}${options.login ?? DEFAULT_PATHS.login}`, target.origin);
      login.searchParams.set("redirect_uri", callback);
      login.searchParams.set("return_to", `${target.pathname}${target.search}`);
      return login.href;
    },
  };
}

/** A Server Component's request as sessions read it: its cookies and its `Host` (and scheme from a proxy). */
function serverBrowser({ cookies, headers }: ServerContext): BrowserRequest {
  const cookie = cookies
    .getAll()
    .map(({ name, value }) => `${name}=${value}`)
    .join("; ");
  const host = headers.get("host");
  const scheme = headers.get("x-forwarded-proto")?.split(",")[0]?.trim() ?? "http";
  return {
    method: "GET",
    cookie: cookie === "" ? undefined : cookie,
    origin: host === null ? undefined : `${scheme}://${host}`,
    originHeader: undefined,
    fetchSite: undefined,
  };
}

export class NextOIDCAuth extends WebOIDCAuth {
  readonly #next = nextAuth(this);
  /** `export const { GET, POST } = auth.routeHandlers({ prefix: "/api" })` in the catch-all route file. */
  routeHandlers(options?: RouterOptions): RouteHandlers {
    return this.#next.routeHandlers(options);
  }
  /** The signed-in user of a Server Component, route handler or middleware, or undefined (read only). */
  currentUser(
    from: Request | ServerContext,
    requirement?: Requirement,
  ): Promise<SignedIn | undefined> {
    return this.#next.currentUser(from, requirement);
  }
  /** The login URL that comes back to `returnTo`, for `redirect()` or `Response.redirect()`. */
  loginUrl(
    returnTo: string,
    options?: Pick<RouterOptions, "prefix" | "login" | "callback">,
  ): string {
    return this.#next.loginUrl(returnTo, options);
  }
}

export type {
  BrowserSession,
  GuardWrapper,
  IDToken,
  Requirement,
  RouterOptions,
} from "./web.ts";
