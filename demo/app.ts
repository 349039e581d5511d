/**
 * The demo: the dev IdP and an Express app in broker mode that serves a web
 * page (public/) and two protected APIs. `startDemo()` is what `npm start`
 * runs (server.ts), and what the browser and client tests start.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express } from "express";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { ExpressOIDCAuth } from "../src/adapters/express.ts";
import type { Logger } from "../src/index.ts";
import { defaultSQLitePath, userDataDirectory } from "../src/stores/index.ts";
import { SSR, ssrRoutes } from "./ssr.ts";

export const APP_NAME = "ts-oidc-auth-demo";
export const PREFIX = "/api";

export interface DemoOptions {
  /** Port of the app; 0 = any free port. */
  port: number;
  /** Port of the dev IdP; 0 = any free port. */
  idpPort: number;
  /** Broker store URL; default none, i.e. the library's default SQLite file in the user's data directory. */
  storeUrl?: string;
  /** `interval` the IdP gives device flows, seconds. Default 5 (as Keycloak). */
  deviceIntervalSeconds?: number;
  /** Lifetime of the broker's access tokens, seconds. Default the library's (600). */
  accessTokenSeconds?: number;
  /** Lifetime of the IdP's access tokens, seconds (the server-rendered page's sessions hold them). Default 300. */
  idpAccessTokenSeconds?: number;
  logger?: Logger;
}

export interface Demo {
  /** The page, e.g. http://127.0.0.1:8000/ */
  url: string;
  /** Where the auth endpoints live (the host a client is given): url + prefix. */
  apiBase: string;
  idp: DevIdp;
  /** What the broker store is, for the start-up message. */
  store: string;
  close(): Promise<void>;
}

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const idp = await startDevIdp({
    port: options.idpPort,
    devicePollIntervalSeconds: options.deviceIntervalSeconds ?? 5,
    accessTokenTtlSeconds: options.idpAccessTokenSeconds ?? 300,
  });
  try {
    const server = createServer();
    await listen(server, options.port);
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = options.storeUrl ?? (await defaultSQLitePath(APP_NAME));
    const secret = await demoSecret();
    const auth = demoAuth(origin, idp, options, secret);
    server.on("request", demoApp(auth, sessionAuth(origin, idp, options, secret)));
    return {
      url: `${origin}/`,
      apiBase: `${origin}${PREFIX}`,
      idp,
      store,
      close: async () => {
        await closeServer(server);
        await idp.stop();
      },
    };
  } catch (error) {
    await idp.stop();
    throw error;
  }
}

/** Both auth objects' client at the dev IdP. */
function idpClient(idp: DevIdp) {
  return {
    clientId: idp.confidentialClient.clientId,
    clientSecret: idp.confidentialClient.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    scopes: "myscope profile email",
    audience: idp.audience,
  };
}

function demoAuth(
  origin: string,
  idp: DevIdp,
  options: DemoOptions,
  secret: string,
): ExpressOIDCAuth {
  return new ExpressOIDCAuth({
    ...idpClient(idp),
    appName: APP_NAME,
    brokerMode: true,
    // undefined: the default store, SQLite in the user's data directory for APP_NAME.
    brokerStoreUrl: options.storeUrl,
    brokerAudience: "ts-oidc-auth-demo-api",
    // The broker's issuer becomes <origin>/api, where its keys and metadata are published.
    proxy: origin,
    // The page itself, and the command-line client's loopback callback (any port: RFC 8252).
    allowedRedirectUris: [`${origin}/`, "http://localhost/callback", "http://127.0.0.1/callback"],
    // A random secret kept beside the store, so sessions and keys survive a restart of the demo.
    // A real app takes 32+ random bytes from its secret configuration instead.
    secret,
    ...(options.accessTokenSeconds ? { brokerAccessTokenSeconds: options.accessTokenSeconds } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

/** The server-rendered page's: token mode, browser sessions in a sealed cookie (docs/browser-sessions.md). */
function sessionAuth(
  origin: string,
  idp: DevIdp,
  options: DemoOptions,
  secret: string,
): ExpressOIDCAuth {
  return new ExpressOIDCAuth({
    ...idpClient(idp),
    proxy: origin,
    browserSessions: true,
    // Its own callback, and its page after the IdP's logout.
    allowedRedirectUris: [`${origin}${SSR}/auth/v2/callback`, `${origin}${SSR}/`],
    secret,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

function demoApp(auth: ExpressOIDCAuth, sessions: ExpressOIDCAuth): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(securityHeaders, ssrRoutes(sessions));
  app.use(auth.createAuthRouter({ prefix: PREFIX }));
  app.get(`${PREFIX}/hello`, auth.required(), (req, res) => {
    const name = req.token?.given_name ?? req.token?.preferred_username ?? "stranger";
    res.json({
      message: `Hello, ${String(name)}!`,
      subject: req.token?.sub,
      roles: req.token?.roles,
    });
  });
  app.get(`${PREFIX}/admin`, auth.required({ claims: { roles: ["admin"] } }), (req, res) => {
    res.json({ message: `Welcome to the admin API, ${String(req.token?.preferred_username)}.` });
  });
  app.use(securityHeaders, express.static(join(dirname(fileURLToPath(import.meta.url)), "public")));
  return app;
}

/** The page loads only its own script and style and talks only to its own origin. */
const securityHeaders: express.RequestHandler = (_req, res, next) => {
  res.set({
    "content-security-policy":
      "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
  });
  next();
};

/** A random secret made on first start and kept (mode 0600) in the demo's data directory. */
async function demoSecret(): Promise<string> {
  const folder = join(userDataDirectory(), APP_NAME);
  const file = join(folder, "demo-secret");
  await mkdir(folder, { recursive: true, mode: 0o700 });
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const secret = randomBytes(32).toString("base64url");
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" }).catch(() => undefined);
    // Another start may have won the race: use whatever is on disk.
    return (await readFile(file, "utf8")).trim();
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
