/**
 * Serving test apps on loopback: a Node server on a random port, and a
 * minimal fetch-shaped server (web `Request` in, `Response` out, as
 * Deno.serve, Bun.serve and Next.js call route handlers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export type FetchFunction = (request: Request) => Response | Promise<Response>;

/** Starts `server` on a random loopback port; `close()` also ends kept-alive connections. */
export async function listen(server: Server): Promise<RunningApp> {
  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return running(server, () => new Promise<void>((resolve) => server.close(() => resolve())));
}

/** The `RunningApp` of a listening server that `stop` shuts down. */
export function running(server: Server, stop: () => Promise<void>): RunningApp {
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await stop();
    },
  };
}

/** Serves a fetch function: each Node request becomes a web `Request`, streamed both ways. */
export function serveFetch(fetch: FetchFunction): Promise<RunningApp> {
  return listen(
    createServer(async (req, res) => {
      await writeResponse(res, await fetch(toRequest(req)));
    }),
  );
}

function toRequest(req: IncomingMessage): Request {
  // Every field line, as Deno.serve and Bun.serve keep them (Node's req.headers drops repeats).
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    duplex: "half",
  } as RequestInit);
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: string[] = [];
  response.headers.forEach((value, name) => {
    headers.push(name, value);
  });
  res.writeHead(response.status, headers);
  if (response.body !== null) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      res.write(chunk);
    }
  }
  res.end();
}

/** A route file's exports: its handlers by method. */
export type RouteModule = Partial<Record<"GET" | "POST", FetchFunction>>;

/**
 * Serves Next.js App Router route files (keyed by folder below app/, e.g.
 * `/me` or `/api/[...auth]`) as Next.js calls them: a `NextRequest` per
 * request; a route file's own folder wins over a catch-all; a method the
 * file does not export answers 405. This stands in for Next's router only:
 * no `next build`, middleware or Edge runtime.
 */
export async function serveNextRoutes(files: Map<string, RouteModule>): Promise<RunningApp> {
  const { NextRequest } = await import("next/server.js");
  const catchAlls = [...files.keys()].filter((folder) => /\/\[\.\.\.\w+\]$/.test(folder));
  const routeOf = (pathname: string): RouteModule | undefined => {
    const exact = files.get(pathname);
    if (exact !== undefined) return exact;
    const folder = catchAlls.find((f) => pathname.startsWith(f.slice(0, f.lastIndexOf("/") + 1)));
    return folder === undefined ? undefined : files.get(folder);
  };
  return serveFetch(async (request) => {
    const nextRequest = new NextRequest(request);
    const route = routeOf(nextRequest.nextUrl.pathname);
    if (route === undefined) return new Response(null, { status: 404 });
    const handler = route[nextRequest.method as "GET" | "POST"];
    return handler === undefined ? new Response(null, { status: 405 }) : handler(nextRequest);
  });
}
