/**
 * The adapters under test. Each entry builds the same small app in its
 * framework's own idiom: the auth router, with the seed's custom
 * `auth-ports` route added to it exactly as the seed writes it (a path
 * relative to the router, served below its prefix), and protected routes. The conformance
 * suite runs every test against every entry: adding an adapter means adding
 * an entry here, not copying tests.
 */
import { createServer, type Server } from "node:http";
import type {
  BrowserSession,
  OIDCAuthOptions,
  Requirement,
  RouterOptions,
} from "../../src/index.ts";
import {
  type FetchFunction,
  listen,
  type RouteModule,
  type RunningApp,
  running,
  serveFetch,
  serveNextRoutes,
} from "./servers.ts";

export type { RunningApp } from "./servers.ts";

export interface AdapterFixture {
  name: string;
  start(options: OIDCAuthOptions, router: RouterOptions): Promise<RunningApp>;
}

/** The protected routes every fixture app serves, with the requirement of each. */
export const PROTECTED_ROUTES: Array<{
  path: string;
  optional: boolean;
  requirement?: Requirement;
}> = [
  { path: "/me", optional: false },
  { path: "/maybe-me", optional: true },
  { path: "/scoped", optional: false, requirement: { scopes: "myscope profile" } },
  { path: "/admin-scope", optional: false, requirement: { scopes: ["admin:write"] } },
  { path: "/admins", optional: false, requirement: { claims: { roles: "admin" } } },
  { path: "/maybe-admin", optional: true, requirement: { claims: { roles: "admin" } } },
  // Every listed value (py-oidc-auth's reading), any of them when asked, and none of the defaults.
  {
    path: "/all-roles",
    optional: false,
    requirement: { claims: { "realm_access.roles": ["admin", "user"] } },
  },
  {
    path: "/any-role",
    optional: false,
    requirement: { claims: { "realm_access.roles": { anyOf: ["admin", "auditor"] } } },
  },
  { path: "/no-claims", optional: false, requirement: { claims: {} } },
];

/** What a protected route answers: the caller's subject, or anonymous. */
export function describeCaller(token: { sub: string; preferred_username?: string } | undefined) {
  return token === undefined
    ? { anonymous: true }
    : { sub: token.sub, username: token.preferred_username ?? null };
}

export const AUTH_PORTS = { valid_ports: [8080, 8443] };

/**
 * The route that shows how a caller got in (docs/browser-sessions.md "Browser sessions"):
 * GET and POST, `required()`, with the session in the framework's idiom.
 */
export const SESSION_ROUTE = "/session-me";

/** What the session route answers: the caller, whether a session admitted it, and its access token's length. */
export async function describeSession(
  token: { sub: string; preferred_username?: string } | undefined,
  session: BrowserSession | undefined,
) {
  return {
    ...describeCaller(token),
    via: session === undefined ? "bearer" : "session",
    accessTokenLength: session === undefined ? 0 : (await session.accessToken()).length,
  };
}

const express: AdapterFixture = {
  name: "express",
  async start(options, routerOptions) {
    const { default: expressApp } = await import("express");
    const { ExpressOIDCAuth } = await import("../../src/adapters/express.ts");
    const auth = new ExpressOIDCAuth(options);
    const router = auth.createAuthRouter(routerOptions);
    router.get("/auth/v2/auth-ports", (_req, res) => {
      res.json(AUTH_PORTS);
    });
    const app = expressApp();
    app.use(router);
    for (const route of PROTECTED_ROUTES) {
      const guard = route.optional
        ? auth.optional(route.requirement)
        : auth.required(route.requirement);
      app.get(route.path, guard, (req, res) => {
        res.json(describeCaller(req.token));
      });
    }
    for (const method of ["get", "post"] as const) {
      app[method](SESSION_ROUTE, auth.required(), async (req, res) => {
        res.json(await describeSession(req.token, req.authSession));
      });
    }
    return listen(createServer(app));
  },
};

/**
 * The Web-standard handler's app: one fetch function, the user's own routes
 * (auth-ports, the protected ones) beside the auth handler.
 */
async function webApp(options: OIDCAuthOptions, routerOptions: RouterOptions) {
  const { WebOIDCAuth, notFound } = await import("../../src/adapters/web.ts");
  const auth = new WebOIDCAuth(options);
  const authHandler = auth.handler(routerOptions);
  authHandler.get("/auth/v2/auth-ports", async () => Response.json(AUTH_PORTS));
  const routes = new Map<string, FetchFunction>();
  for (const route of PROTECTED_ROUTES) {
    const guard = route.optional
      ? auth.optional(route.requirement)
      : auth.required(route.requirement);
    routes.set(
      route.path,
      guard(async (_request, token) => Response.json(describeCaller(token))),
    );
  }
  routes.set(
    SESSION_ROUTE,
    auth.required()(async (request, token) =>
      Response.json(await describeSession(token, auth.session(request))),
    ),
  );
  const fetch: FetchFunction = async (request) =>
    (await authHandler(request)) ??
    (await routes.get(new URL(request.url).pathname)?.(request)) ??
    notFound();
  return fetch;
}

/** The Web-standard handler behind a minimal fetch-shaped server, as Deno.serve or Bun.serve call it. */
const web: AdapterFixture = {
  name: "web (fetch-shaped server)",
  async start(options, routerOptions) {
    return serveFetch(await webApp(options, routerOptions));
  },
};

/** The same handler on a second server shape: @hono/node-server serving plain `Request`s. */
const webOnNodeServer: AdapterFixture = {
  name: "web (@hono/node-server)",
  async start(options, routerOptions) {
    return serveWithNodeServer(await webApp(options, routerOptions));
  },
};

async function serveWithNodeServer(fetch: FetchFunction): Promise<RunningApp> {
  const { createAdaptorServer } = await import("@hono/node-server");
  return listen(createAdaptorServer({ fetch }) as Server);
}

const fastify: AdapterFixture = {
  name: "fastify",
  async start(options, routerOptions) {
    const { default: Fastify } = await import("fastify");
    const { FastifyOIDCAuth } = await import("../../src/adapters/fastify.ts");
    const auth = new FastifyOIDCAuth(options);
    const app = Fastify();
    const { prefix, ...paths } = routerOptions;
    await app.register(
      async (api) => {
        await api.register(auth.plugin(paths));
        api.get("/auth/v2/auth-ports", async () => AUTH_PORTS);
      },
      { prefix: prefix ?? "" },
    );
    for (const route of PROTECTED_ROUTES) {
      const preHandler = route.optional
        ? auth.optional(route.requirement)
        : auth.required(route.requirement);
      app.get(route.path, { preHandler }, async (request) => describeCaller(request.token));
    }
    app.route({
      method: ["GET", "POST"],
      url: SESSION_ROUTE,
      preHandler: auth.required(),
      handler: async (request) => describeSession(request.token, request.authSession),
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    return running(app.server, () => app.close());
  },
};

const hono: AdapterFixture = {
  name: "hono",
  async start(options, routerOptions) {
    const { Hono } = await import("hono");
    const { HonoOIDCAuth } = await import("../../src/adapters/hono.ts");
    const auth = new HonoOIDCAuth(options);
    const authApp = auth.app(routerOptions);
    authApp.get("/auth/v2/auth-ports", (c) => c.json(AUTH_PORTS));
    const app = new Hono();
    app.route("/", authApp);
    for (const route of PROTECTED_ROUTES) {
      if (route.optional) {
        app.get(route.path, auth.optional(route.requirement), (c) =>
          c.json(describeCaller(c.get("token"))),
        );
      } else {
        app.get(route.path, auth.required(route.requirement), (c) =>
          c.json(describeCaller(c.get("token"))),
        );
      }
    }
    app.on(["GET", "POST"], SESSION_ROUTE, auth.required(), async (c) =>
      c.json(await describeSession(c.get("token"), c.get("authSession"))),
    );
    return serveWithNodeServer(app.fetch);
  },
};

const koa: AdapterFixture = {
  name: "koa",
  async start(options, routerOptions) {
    const { default: Koa } = await import("koa");
    const { KoaOIDCAuth } = await import("../../src/adapters/koa.ts");
    const auth = new KoaOIDCAuth(options);
    const router = auth.createAuthRouter(routerOptions);
    router.get("/auth/v2/auth-ports", (ctx) => {
      ctx.body = AUTH_PORTS;
    });
    const { Router } = await import("@koa/router");
    const appRouter = new Router();
    for (const route of PROTECTED_ROUTES) {
      const guard = route.optional
        ? auth.optional(route.requirement)
        : auth.required(route.requirement);
      appRouter.get(route.path, guard, (ctx) => {
        ctx.body = describeCaller(ctx.state.token);
      });
    }
    for (const method of ["get", "post"] as const) {
      appRouter[method](SESSION_ROUTE, auth.required(), async (ctx) => {
        ctx.body = await describeSession(ctx.state.token, ctx.state.authSession);
      });
    }
    const app = new Koa();
    app.use(router.routes()).use(router.allowedMethods());
    app.use(appRouter.routes()).use(appRouter.allowedMethods());
    return listen(createServer(app.callback()));
  },
};

function nestFixture(platform: "express" | "fastify"): AdapterFixture {
  return {
    name: `nestjs (${platform})`,
    async start(options, routerOptions) {
      const { NestFactory } = await import("@nestjs/core");
      const { nestAppModule } = await import("./nest-app.ts");
      // One platform takes its options through forRootAsync, the other through forRoot.
      const module = await nestAppModule(options, routerOptions, platform === "fastify");
      const app =
        platform === "express"
          ? await NestFactory.create(module, { logger: false })
          : await NestFactory.create(
              module,
              new (await import("@nestjs/platform-fastify")).FastifyAdapter(),
              { logger: false },
            );
      await app.listen(0, "127.0.0.1");
      return running(app.getHttpServer() as Server, () => app.close());
    },
  };
}

/** Next.js route handlers in their route files, called with `NextRequest`s as Next.js calls them. */
const next: AdapterFixture = {
  name: "next (route handlers)",
  async start(options, routerOptions) {
    const { NextOIDCAuth } = await import("../../src/adapters/next.ts");
    const auth = new NextOIDCAuth(options);
    const prefix = routerOptions.prefix ?? "";
    const files = new Map<string, RouteModule>();
    files.set(`${prefix}/[...auth]`, auth.routeHandlers(routerOptions));
    files.set(`${prefix}/auth/v2/auth-ports`, { GET: async () => Response.json(AUTH_PORTS) });
    for (const route of PROTECTED_ROUTES) {
      const guard = route.optional
        ? auth.optional(route.requirement)
        : auth.required(route.requirement);
      files.set(route.path, {
        GET: guard(async (_request, token) => Response.json(describeCaller(token))),
      });
    }
    const sessionRoute = auth.required()(async (request, token) =>
      Response.json(await describeSession(token, auth.session(request))),
    );
    files.set(SESSION_ROUTE, { GET: sessionRoute, POST: sessionRoute });
    return serveNextRoutes(files);
  },
};

export const ADAPTERS: AdapterFixture[] = [
  express,
  web,
  webOnNodeServer,
  fastify,
  hono,
  koa,
  nestFixture("express"),
  nestFixture("fastify"),
  next,
];
