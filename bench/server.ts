/**
 * One benchmark server: a framework serving `GET /hello` one way (bare, our
 * guard, a peer guard, a hand-rolled jose guard), on 127.0.0.1. Started by
 * bench/http.ts pinned to one core; prints `listening <port>` when ready and
 * stops when its parent closes stdin.
 *
 *   node --import tsx bench/server.ts <framework> <variant> <config JSON>
 */
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Framework, ServerConfig, Variant } from "./common.ts";

const BODY = { hello: "world" };
const quiet = { warn() {}, error() {} };

function ourOptions(config: ServerConfig, cache: boolean) {
  return {
    clientId: config.clientId,
    discoveryUrl: config.discoveryUrl,
    audience: config.audience,
    secret: "bench-secret-0123456789abcdef-0123456789abcdef",
    allowedRedirectUris: ["http://127.0.0.1/cb"],
    logger: quiet,
    ...(cache ? {} : { tokenCacheSize: 0 }),
  };
}

/** The hand-rolled guard every framework gets: jose's remote JWKS and `jwtVerify`. */
function joseVerifier(
  config: ServerConfig,
): (authorization: string | undefined) => Promise<unknown> {
  const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.jwksUri));
  const options = { issuer: config.issuer, audience: config.audience, algorithms: ["RS256"] };
  return async (authorization) => {
    if (authorization === undefined || !authorization.startsWith("Bearer ")) return undefined;
    try {
      return (await jwtVerify(authorization.slice(7), jwks, options)).payload;
    } catch {
      return undefined;
    }
  };
}

async function publicKeyPem(config: ServerConfig): Promise<string> {
  const jwks = (await (await fetch(config.jwksUri)).json()) as { keys: JsonWebKey[] };
  const [jwk] = jwks.keys;
  if (jwk === undefined) throw new Error("no key in the JWKS");
  return createPublicKey({ key: jwk, format: "jwk" }).export({
    type: "spki",
    format: "pem",
  }) as string;
}

async function express(variant: Variant, config: ServerConfig): Promise<Server> {
  const { default: expressApp } = await import("express");
  const app = expressApp();
  const send = (_req: unknown, res: import("express").Response) => {
    res.json(BODY);
  };
  if (variant === "bare") app.get("/hello", send);
  else if (variant === "noop") app.get("/hello", async (_req, _res, next) => next(), send);
  else if (variant === "ours" || variant === "ours-nocache") {
    const { ExpressOIDCAuth } = await import("../src/adapters/express.ts");
    const auth = new ExpressOIDCAuth(ourOptions(config, variant === "ours"));
    app.get("/hello", auth.required(), send);
  } else if (variant === "peer") {
    const { auth } = await import("express-oauth2-jwt-bearer");
    app.get(
      "/hello",
      auth({
        issuer: config.issuer,
        jwksUri: config.jwksUri,
        audience: config.audience,
        tokenSigningAlg: "RS256",
      }),
      send,
    );
  } else {
    const verify = joseVerifier(config);
    app.get(
      "/hello",
      async (req, res, next) => {
        if ((await verify(req.headers.authorization)) === undefined) res.status(401).end();
        else next();
      },
      send,
    );
  }
  return createServer(app);
}

async function fastify(variant: Variant, config: ServerConfig): Promise<Server> {
  const { default: Fastify } = await import("fastify");
  const app = Fastify();
  const handler = async () => BODY;
  if (variant === "bare") app.get("/hello", handler);
  else if (variant === "noop") app.get("/hello", { preHandler: async () => {} }, handler);
  else if (variant === "ours" || variant === "ours-nocache") {
    const { FastifyOIDCAuth } = await import("../src/adapters/fastify.ts");
    const auth = new FastifyOIDCAuth(ourOptions(config, variant === "ours"));
    app.get("/hello", { preHandler: auth.required() }, handler);
  } else if (variant === "peer") {
    const { default: fastifyJwt } = await import("@fastify/jwt");
    await app.register(fastifyJwt, {
      secret: { public: await publicKeyPem(config) },
      verify: { allowedIss: config.issuer, allowedAud: config.audience, algorithms: ["RS256"] },
    });
    app.get(
      "/hello",
      {
        preHandler: async (request, reply) => {
          try {
            await request.jwtVerify();
          } catch {
            return reply.code(401).send();
          }
        },
      },
      handler,
    );
  } else {
    const verify = joseVerifier(config);
    app.get(
      "/hello",
      {
        preHandler: async (request, reply) => {
          if ((await verify(request.headers.authorization)) === undefined)
            return reply.code(401).send();
        },
      },
      handler,
    );
  }
  await app.ready();
  return app.server;
}

async function hono(variant: Variant, config: ServerConfig): Promise<Server> {
  const { Hono } = await import("hono");
  const { createAdaptorServer } = await import("@hono/node-server");
  const app = new Hono();
  if (variant === "bare") app.get("/hello", (c) => c.json(BODY));
  else if (variant === "noop")
    app.get(
      "/hello",
      async (_c, next) => {
        await next();
      },
      (c) => c.json(BODY),
    );
  else if (variant === "ours" || variant === "ours-nocache") {
    const { HonoOIDCAuth } = await import("../src/adapters/hono.ts");
    const auth = new HonoOIDCAuth(ourOptions(config, variant === "ours"));
    app.get("/hello", auth.required(), (c) => c.json(BODY));
  } else if (variant === "peer") {
    const { jwk } = await import("hono/jwk");
    // With `jwks_uri` hono/jwk fetches the JWKS on every request; its best setup is keys fetched once.
    const { keys } = (await (await fetch(config.jwksUri)).json()) as { keys: never[] };
    app.get(
      "/hello",
      jwk({ keys, alg: ["RS256"], verification: { iss: config.issuer, aud: config.audience } }),
      (c) => c.json(BODY),
    );
  } else {
    const verify = joseVerifier(config);
    app.get(
      "/hello",
      async (c, next) => {
        if ((await verify(c.req.header("authorization"))) === undefined) return c.body(null, 401);
        await next();
      },
      (c) => c.json(BODY),
    );
  }
  return createAdaptorServer({ fetch: app.fetch }) as Server;
}

async function koa(variant: Variant, config: ServerConfig): Promise<Server> {
  const { default: Koa } = await import("koa");
  const { default: Router } = await import("@koa/router");
  const app = new Koa();
  const router = new Router();
  const send = (ctx: import("koa").Context) => {
    ctx.body = BODY;
  };
  if (variant === "bare") router.get("/hello", send);
  else if (variant === "noop") router.get("/hello", async (_ctx, next) => next(), send);
  else if (variant === "ours" || variant === "ours-nocache") {
    const { KoaOIDCAuth } = await import("../src/adapters/koa.ts");
    const auth = new KoaOIDCAuth(ourOptions(config, variant === "ours"));
    router.get("/hello", auth.required(), send);
  } else {
    const verify = joseVerifier(config);
    router.get(
      "/hello",
      async (ctx, next) => {
        if ((await verify(ctx.headers.authorization)) === undefined) ctx.status = 401;
        else await next();
      },
      send,
    );
  }
  app.use(router.routes());
  return createServer(app.callback());
}

const builders: Record<Framework, (variant: Variant, config: ServerConfig) => Promise<Server>> = {
  express,
  fastify,
  hono,
  koa,
};

async function main(): Promise<void> {
  const [framework, variant, configJson] = process.argv.slice(2) as [Framework, Variant, string];
  const server = await builders[framework](variant, JSON.parse(configJson) as ServerConfig);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  // The parent closing our stdin (or dying) ends the server.
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
}

await main();
