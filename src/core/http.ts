/**
 * The framework-neutral request and response every endpoint works with.
 * Adapters translate their framework's objects to these and back, nothing
 * more; all parsing and validation of input happens here.
 */
import { AuthError, badRequest } from "./errors.ts";

export interface AuthRequest {
  method: string;
  /** The URL's query string, already split. */
  query: URLSearchParams;
  /** The `Authorization` header, if any. */
  authorization: string | undefined;
  /** The request's origin (`https://host[:port]`), when the adapter knows it (RFC 9728 metadata). */
  origin?: string;
  /** The `Content-Type` header, if any. */
  contentType: string | undefined;
  /**
   * The raw body, as the framework has it: a stream of chunks (Node's
   * request, a web stream's chunks) or what a body parser already read.
   * Only endpoints that take a form call it; the core limits its size.
   */
  body: () => RawBody;
  /** What browser sessions read (docs/browser-sessions.md "Browser sessions"); adapters always fill it in. */
  browser?: BrowserRequest;
}

/** The parts of a browser's request that sessions and their CSRF check need. */
export interface BrowserRequest {
  /** The request method, for the CSRF check. */
  method: string;
  /** The `Cookie` header, if any. */
  cookie: string | undefined;
  /** This app's own origin as the request reached it (`proxy`, else scheme and `Host`). */
  origin: string | undefined;
  /** The `Origin` header (RFC 6454 §7), if any. */
  originHeader: string | undefined;
  /** The `Sec-Fetch-Site` header (Fetch Metadata), if any. */
  fetchSite: string | undefined;
}

export type RawBody = AsyncIterable<Uint8Array | string> | Uint8Array | string;

export interface AuthResponse {
  status: number;
  headers: Record<string, string>;
  /** A JSON value to serialise, or undefined for an empty body (redirects). */
  body: unknown;
  /** `Set-Cookie` values, one each (RFC 6265 §3: they cannot be joined into one header). */
  cookies?: string[];
}

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" } as const;

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { status, headers: { ...NO_STORE, ...headers }, body } satisfies AuthResponse;
}

export function redirectResponse(location: string): AuthResponse {
  return { status: 302, headers: { location, "cache-control": "no-store" }, body: undefined };
}

export function errorResponse(error: AuthError): AuthResponse {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers["www-authenticate"] = error.challenge ?? bearerChallenge(error);
  if (error.status === 503) headers["retry-after"] = "5";
  // The unread rest of an oversized body makes the connection unusable.
  if (error.status === 413) headers.connection = "close";
  return jsonResponse(error.status, error.toJSON(), headers);
}

function bearerChallenge(error: AuthError): string {
  const description = error.description.replace(/["\\]/g, "");
  return `Bearer error="${error.error}", error_description="${description}"`;
}

const encoder = new TextEncoder();

/** Reads a request body, refusing more than `limit` bytes without buffering them. */
async function readBody(raw: RawBody, limit: number): Promise<Uint8Array> {
  const chunks = typeof raw === "string" || raw instanceof Uint8Array ? [raw] : raw;
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    size += bytes.byteLength;
    if (size > limit) throw payloadTooLarge(limit);
    parts.push(bytes);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return body;
}

const payloadTooLarge = (limit: number) =>
  new AuthError(413, "invalid_request", `The request body exceeds ${limit} bytes.`);

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses an `application/x-www-form-urlencoded` body of at most `limit`
 * bytes. A request with no body at all (no `Content-Type`, nothing sent) is
 * an empty form, so the endpoint can say which parameter is missing
 * (RFC 6749 §5.2 `invalid_request`); a body of another type is 415.
 */
export async function parseForm(request: AuthRequest, limit: number): Promise<URLSearchParams> {
  const mediaType = request.contentType?.split(";")[0]?.trim().toLowerCase();
  if (mediaType === undefined || mediaType === "") {
    const body = await readBody(request.body(), limit);
    if (body.byteLength === 0) return new URLSearchParams();
    throw unsupportedMediaType();
  }
  if (mediaType !== "application/x-www-form-urlencoded") throw unsupportedMediaType();
  const body = await readBody(request.body(), limit);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw badRequest("The request body is not valid UTF-8.");
  }
  return new URLSearchParams(text);
}

const unsupportedMediaType = () =>
  new AuthError(
    415,
    "invalid_request",
    "The request body must be application/x-www-form-urlencoded.",
  );

/**
 * One parameter by any of its names (py-oidc-auth clients send
 * `refresh-token` for `refresh_token`). RFC 6749 §3.1: a parameter must not
 * be repeated.
 */
export function param(params: URLSearchParams, ...names: string[]): string | undefined {
  let found: string | undefined;
  for (const name of names) {
    const values = params.getAll(name);
    if (values.length > 1 || (values.length === 1 && found !== undefined)) {
      throw badRequest(`The parameter "${names[0]}" is given more than once.`);
    }
    if (values.length === 1) found = values[0];
  }
  return found === "" ? undefined : found;
}

export function requiredParam(params: URLSearchParams, ...names: string[]): string {
  const value = param(params, ...names);
  if (value === undefined) throw badRequest(`The parameter "${names[0]}" is required.`);
  return value;
}
