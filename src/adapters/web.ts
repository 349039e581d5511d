/**
 * Web-standard adapter: the auth endpoints as one `Request -> Response`
 * function, and guards for fetch-shaped handlers. It uses only web APIs
 * (Request, Response, Headers, ReadableStream), so it runs as is on Bun,
 * Deno, Cloudflare Workers, Node's fetch-shaped servers, and under the Hono
 * and Next.js adapters.
 */
import type { IDToken, Requirement } from "../core/claims.ts";
import { AuthError, missingToken } from "../core/errors.ts";
import { type AuthRequest, type AuthResponse, errorResponse, readBody } from "../core/http.ts";
import { type Guard, OIDCAuth, type Route, type RouterOptions } from "../core/oidc-auth.ts";

/** Answers an auth endpoint, or `undefined` when the request is for none of them. */
export type AuthHandler = (request: Request) => Promise<Response | undefined>;

/**
 * Wraps a fetch-shaped handler, which receives the token after the request
 * and before whatever else the runtime passes (Workers' env and context,
 * Next.js's `{ params }`).
 */
export type GuardWrapper<T> = <R extends Request, A extends unknown[]>(
  handler: (request: R, token: T, ...args: A) => Response | Promise<Response>,
) => (request: R, ...args: A) => Promise<Response>;

export class WebOIDCAuth extends OIDCAuth {
  /**
   * The auth endpoints as one function. Paths are matched against the whole
   * URL path, so they include `options.prefix`; anything else gives
   * `undefined`, for the caller's own routes.
   */
  handler(options: RouterOptions = {}): AuthHandler {
    const routes = new Map<string, Route>();
    for (const route of this.routes(options)) {
      routes.set(`${route.method} ${options.prefix ?? ""}${route.path}`, route);
    }
    return async (request) => {
      const route = routes.get(`${request.method} ${new URL(request.url).pathname}`);
      if (route === undefined) return undefined;
      return toResponse(await route.handle(toAuthRequest(request, this.options.maxBodyBytes)));
    };
  }

  /**
   * The request's validated token, or the ready 401/403/503 `Response` to
   * return instead. Compiles the requirement on each call: prefer
   * `required()` for a fixed requirement.
   */
  async authenticate(request: Request, requirement?: Requirement): Promise<IDToken | Response> {
    const checked = await guardRequest(this.guard(requirement, false), request);
    if (checked instanceof Response) return checked;
    return checked.token ?? toResponse(unexpectedAnonymous());
  }

  /** `auth.required({ scopes })(async (request, token) => Response.json(...))`: 401/403/503 or the handler. */
  required(requirement?: Requirement): GuardWrapper<IDToken> {
    return wrapWith<IDToken>(this.guard(requirement, false));
  }

  /** Like `required()`, but an anonymous or unacceptable caller reaches the handler with `undefined`. */
  optional(requirement?: Requirement): GuardWrapper<IDToken | undefined> {
    return wrapWith<IDToken | undefined>(this.guard(requirement, true));
  }
}

function wrapWith<T extends IDToken | undefined>(guard: Guard): GuardWrapper<T> {
  return (handler) =>
    async (request, ...args) => {
      const checked = await guardRequest(guard, request);
      if (checked instanceof Response) return checked;
      // Only an optional guard lets a caller through without a token; T admits undefined there.
      return handler(request, checked.token as T, ...args);
    };
}

/** Runs a guard on a request: the token (`undefined` for anonymous) or the ready error `Response`. */
export async function guardRequest(
  guard: Guard,
  request: Request,
): Promise<{ token: IDToken | undefined } | Response> {
  const outcome = await guard(authorizationOf(request));
  if (outcome.kind === "denied") return toResponse(outcome.response);
  return { token: outcome.kind === "token" ? outcome.token : undefined };
}

/** A required guard never answers "anonymous"; should it ever, refuse rather than pass. */
function unexpectedAnonymous(): AuthResponse {
  return errorResponse(missingToken());
}

/** The request's `Authorization` header, if any. */
export function authorizationOf(request: Request): string | undefined {
  return request.headers.get("authorization") ?? undefined;
}

/** The core's view of a web `Request`. */
export function toAuthRequest(request: Request, maxBodyBytes: number): AuthRequest {
  return {
    method: request.method,
    query: new URL(request.url).searchParams,
    authorization: authorizationOf(request),
    contentType: request.headers.get("content-type") ?? undefined,
    body: async () =>
      request.body === null ? new Uint8Array() : readBody(chunks(request.body), maxBodyBytes),
  };
}

/** A web `Response` for the core's answer: JSON, or empty for redirects. */
export function toResponse(response: AuthResponse): Response {
  const headers = new Headers(response.headers);
  if (response.body === undefined) return new Response(null, { status: response.status, headers });
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(response.body), { status: response.status, headers });
}

/** A JSON 404 in the core's error shape, for fetch handlers that must always answer. */
export function notFound(): Response {
  return toResponse(errorResponse(new AuthError(404, "not_found", "No such endpoint.")));
}

/**
 * A stream's chunks through a reader, which every runtime has (async
 * iteration of ReadableStream is not in every runtime's typings). The lock
 * is released when `readBody` stops early, leaving the rest to the server.
 */
async function* chunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

export type { IDToken, Requirement, RouterOptions };
