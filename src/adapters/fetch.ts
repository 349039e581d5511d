/**
 * Translation between web `Request`/`Response` and the core, shared by the
 * Web-standard, Hono and Next.js adapters. It uses only web APIs, so it runs
 * on Node.js, Bun, Deno and Workers alike. Not part of the public API.
 */
import type { IDToken } from "../core/claims.ts";
import { AuthError } from "../core/errors.ts";
import type { Guard } from "../core/guard.ts";
import {
  type AuthRequest,
  type AuthResponse,
  type BrowserRequest,
  errorResponse,
} from "../core/http.ts";
import type { BrowserSession } from "../core/session/guard.ts";

/** The request's `Authorization` header, if any. */
export function authorizationOf(request: Request): string | undefined {
  return request.headers.get("authorization") ?? undefined;
}

/** The request URL's origin (`https://host[:port]`). */
export function originOf(request: Request): string {
  return new URL(request.url).origin;
}

/** The core's view of a web `Request`. */
export function toAuthRequest(request: Request): AuthRequest {
  return {
    method: request.method,
    query: new URL(request.url).searchParams,
    authorization: authorizationOf(request),
    origin: originOf(request),
    contentType: request.headers.get("content-type") ?? undefined,
    body: () => (request.body === null ? "" : chunks(request.body)),
    browser: browserOf(request),
  };
}

/** What browser sessions read from a web `Request`. */
export function browserOf(request: Request): BrowserRequest {
  const { headers } = request;
  const url = new URL(request.url);
  return {
    method: request.method,
    cookie: headers.get("cookie") ?? undefined,
    // `Host` as the browser sent it: NextRequest's URL says localhost for 127.0.0.1.
    origin: `${url.protocol}//${headers.get("host") ?? url.host}`,
    originHeader: headers.get("origin") ?? undefined,
    fetchSite: headers.get("sec-fetch-site") ?? undefined,
  };
}

/** `Set-Cookie` values appended one by one (Fetch: `Headers.append` keeps each one apart). */
export function appendCookies(headers: Headers, cookies: readonly string[] | undefined): void {
  for (const cookie of cookies ?? []) headers.append("set-cookie", cookie);
}

/**
 * The app's response with the guard's `Set-Cookie` values added; a
 * response with immutable headers (`Response.redirect`, a fetched one) is
 * copied first.
 */
export function withCookies(response: Response, cookies: readonly string[] | undefined): Response {
  if (cookies === undefined || cookies.length === 0) return response;
  try {
    appendCookies(response.headers, cookies);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    appendCookies(copy.headers, cookies);
    return copy;
  }
}

/** A web `Response` for the core's answer: JSON, or empty for redirects. */
export function toResponse(response: AuthResponse): Response {
  const headers = new Headers(response.headers);
  appendCookies(headers, response.cookies);
  if (response.body === undefined) return new Response(null, { status: response.status, headers });
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(response.body), { status: response.status, headers });
}

/** A JSON 404 in the core's error shape, for fetch handlers that must always answer. */
export function notFound(): Response {
  return toResponse(errorResponse(new AuthError(404, "not_found", "No such endpoint.")));
}

/** What a passing guard found: the token (`undefined` for anonymous), its session, cookies to set. */
export interface Admitted {
  token: IDToken | undefined;
  session: BrowserSession | undefined;
  cookies: string[] | undefined;
}

/** The session each admitted request came with, for `session(request)`. */
const sessionsOfRequests = new WeakMap<Request, BrowserSession>();

/** The browser session a guard admitted this request with, if any. */
export function sessionOf(request: Request): BrowserSession | undefined {
  return sessionsOfRequests.get(request);
}

/**
 * Runs a guard on a request: what it admitted, or the ready error
 * `Response`. With `sessions` off no browser headers are read.
 */
export async function guardRequest(
  guard: Guard,
  request: Request,
  sessions = false,
): Promise<Admitted | Response> {
  const authorization = authorizationOf(request);
  const outcome = await guard(
    authorization,
    () => originOf(request),
    sessions ? () => browserOf(request) : undefined,
  );
  if (outcome.kind === "denied") return toResponse(outcome.response);
  if (outcome.kind === "anonymous") {
    return { token: undefined, session: undefined, cookies: outcome.cookies };
  }
  if (outcome.session !== undefined) sessionsOfRequests.set(request, outcome.session);
  return { token: outcome.token, session: outcome.session, cookies: outcome.cookies };
}

/**
 * A stream's chunks through a reader, which every runtime has (async
 * iteration of ReadableStream is not in every runtime's typings). The lock
 * is released when the core stops reading early, leaving the rest to the server.
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
