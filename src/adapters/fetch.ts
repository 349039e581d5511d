/**
 * Translation between web `Request`/`Response` and the core, shared by the
 * Web-standard, Hono and Next.js adapters. It uses only web APIs, so it runs
 * on Node.js, Bun, Deno and Workers alike. Not part of the public API.
 */
import type { IDToken } from "../core/claims.ts";
import { AuthError } from "../core/errors.ts";
import type { Guard } from "../core/guard.ts";
import { type AuthRequest, type AuthResponse, errorResponse } from "../core/http.ts";

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

/** Runs a guard on a request: the token (`undefined` for anonymous) or the ready error `Response`. */
export async function guardRequest(
  guard: Guard,
  request: Request,
): Promise<{ token: IDToken | undefined } | Response> {
  const outcome = await guard(authorizationOf(request), () => originOf(request));
  if (outcome.kind === "denied") return toResponse(outcome.response);
  return { token: outcome.kind === "token" ? outcome.token : undefined };
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
