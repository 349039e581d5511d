/**
 * The core's request from a Node `IncomingMessage`, shared by the adapters
 * of Node-based frameworks (Express, Fastify, Koa, NestJS on either).
 */
import type { IncomingMessage } from "node:http";
import type { AuthRequest, BrowserRequest, RawBody } from "../core/http.ts";

/**
 * `req` with its request target (`url`, which frameworks may rewrite below a
 * mount point: pass the original) and its raw body.
 */
export function nodeAuthRequest(
  req: IncomingMessage,
  url: string | undefined,
  body: () => RawBody = () => req,
): AuthRequest {
  const queryStart = url?.indexOf("?") ?? -1;
  return {
    method: req.method ?? "GET",
    query: new URLSearchParams(queryStart < 0 ? "" : url?.slice(queryStart + 1)),
    authorization: nodeAuthorization(req),
    origin: nodeOrigin(req),
    contentType: req.headers["content-type"],
    body,
    browser: nodeBrowser(req),
  };
}

type NodeRequestParts = Pick<IncomingMessage, "headers" | "method"> & { socket?: object | null };

/** What browser sessions read from a Node request; the origin is the scheme of the socket and `Host`. */
export function nodeBrowser(req: NodeRequestParts): BrowserRequest {
  const { headers } = req;
  // A TLS socket (node:tls) says `encrypted`; behind a proxy, `proxy` names the public origin.
  const scheme = (req.socket as { encrypted?: boolean } | null | undefined)?.encrypted
    ? "https"
    : "http";
  return {
    method: req.method ?? "GET",
    cookie: headers.cookie,
    origin: headers.host === undefined ? undefined : `${scheme}://${headers.host}`,
    originHeader: single(headers.origin),
    fetchSite: single(headers["sec-fetch-site"]),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The origin the client addressed: the socket's scheme and the `Host`
 * header. Forwarded headers are not trusted; behind a reverse proxy,
 * `proxy` (or `resource`) says the public URL instead (README "Protected
 * resource metadata").
 */
export function nodeOrigin(req: Pick<IncomingMessage, "headers" | "socket">): string | undefined {
  const host = req.headers.host;
  if (host === undefined) return undefined;
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  return `${encrypted ? "https" : "http"}://${host}`;
}

/**
 * The `Authorization` header. Node keeps the first of repeated ones and
 * drops the rest (`IncomingMessage.headers`), so a proxy reading the last
 * one would disagree with the app: repeated ones are joined as RFC 9110
 * §5.3 combines field lines, which the core refuses with 400.
 */
export function nodeAuthorization(req: Pick<IncomingMessage, "headers" | "rawHeaders">) {
  const first = req.headers.authorization;
  if (first === undefined) return undefined;
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") {
      values.push(raw[i + 1] as string);
    }
  }
  return values.length > 1 ? values.join(", ") : first;
}

/**
 * The raw body for the core, which limits and parses it itself. When a body
 * parser mounted before the auth routes has already read the stream, its
 * result is encoded back into a form, the only type the endpoints accept.
 */
export function nodeRequestBody(req: IncomingMessage, parsed: unknown): RawBody {
  return req.readableEnded ? encodeParsed(parsed) : req;
}

function encodeParsed(body: unknown): string {
  const params = new URLSearchParams();
  if (typeof body === "object" && body !== null) {
    for (const [name, value] of Object.entries(body)) {
      for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
    }
  }
  return params.toString();
}
