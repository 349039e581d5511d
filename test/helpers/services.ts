/**
 * The database servers tests run against: where they are, whether they
 * answer, and what to do when one does not. On a laptop a missing server
 * skips its tests with the reason; in CI (TS_OIDC_AUTH_REQUIRE_SERVICES=1)
 * it fails them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import { createConnection } from "mysql2/promise";
import pg from "pg";

export const requireServices = process.env.TS_OIDC_AUTH_REQUIRE_SERVICES === "1";

export const serviceUrls = {
  postgres: process.env.POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/test",
  mysql: process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test",
  redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  /** Unset: tests start a MongoDB-wire-compatible server of their own (startMongoWireServer). */
  mongodb: process.env.MONGODB_URL,
};

/** A short random id, so that concurrent runs on one server never share names. */
export function runId(): string {
  return randomBytes(4).toString("hex");
}

/** The same URL with another scheme, e.g. `postgresql+asyncpg`. */
export function withScheme(url: string, scheme: string): string {
  return `${scheme}${url.slice(url.indexOf("://"))}`;
}

/** Runs `check`; a failure or a timeout becomes the reason the service is unavailable. */
export async function unavailableReason(
  service: string,
  check: () => Promise<void>,
  timeoutMs = 5000,
): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `${service} is not reachable (${message})`;
  } finally {
    clearTimeout(timer);
  }
}

/** A connection opened only to see whether the server answers. */
interface ProbeConnection {
  check(): Promise<unknown>;
  close(): Promise<unknown>;
}

function probeWith(service: string, open: () => Promise<ProbeConnection>): Promise<string | null> {
  return unavailableReason(service, async () => {
    const connection = await open();
    try {
      await connection.check();
    } finally {
      await connection.close();
    }
  });
}

export function probePostgres(url = serviceUrls.postgres): Promise<string | null> {
  return probeWith("PostgreSQL", async () => {
    const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 3000, max: 1 });
    return { check: () => pool.query("SELECT 1"), close: () => pool.end() };
  });
}

export function probeMySQL(url = serviceUrls.mysql): Promise<string | null> {
  return probeWith("MySQL/MariaDB", async () => {
    const connection = await createConnection({ uri: url, connectTimeout: 3000 });
    return { check: () => connection.query("SELECT 1"), close: () => connection.end() };
  });
}

export function probeRedis(url = serviceUrls.redis): Promise<string | null> {
  return probeWith("Redis", async () => {
    const options = { lazyConnect: true, connectTimeout: 3000, retryStrategy: () => null };
    const client = new Redis(url, { ...options, maxRetriesPerRequest: 0 });
    await client.connect();
    return { check: () => client.ping(), close: async () => client.disconnect() };
  });
}

export function probeMongoDB(url: string): Promise<string | null> {
  return probeWith("MongoDB", async () => {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 });
    return { check: () => client.db("admin").command({ ping: 1 }), close: () => client.close() };
  });
}

/**
 * A suite that needs a server: runs `body` when `reason` is null, else skips
 * with the reason (or, where services are required, fails with it).
 */
export function describeWithService(name: string, reason: string | null, body: () => void): void {
  if (reason === null) {
    describe(name, body);
  } else if (requireServices) {
    describe(name, () => {
      it("has its server (TS_OIDC_AUTH_REQUIRE_SERVICES=1)", () => assert.fail(reason));
    });
  } else {
    describe(name, { skip: reason }, body);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP port");
  return address.port;
}

interface WireServer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

type WireServerClass = new (options: { port: number; host: string }) => WireServer;

/** The package whose CongoServer speaks the MongoDB wire protocol, in pure TypeScript. */
const MONGO_WIRE_PACKAGE = "@push.rocks/smartmongo";
const MONGO_WIRE_MODULE = `${MONGO_WIRE_PACKAGE}/dist_ts/congodb/index.js`;

async function loadWireServerClass(): Promise<WireServerClass> {
  // Loaded by name at run time: the package is optional, like a server.
  const specifier: string = MONGO_WIRE_MODULE;
  const module: unknown = await import(specifier);
  const candidate = (module as { CongoServer?: unknown }).CongoServer;
  if (typeof candidate !== "function") throw new Error(`${MONGO_WIRE_MODULE} has no CongoServer`);
  return candidate as WireServerClass;
}

export interface MongoWireServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts CongoDB (from @push.rocks/smartmongo) on a loopback port: a
 * MongoDB-wire-compatible server the official driver talks to over a real
 * socket. Throws with the reason when the package is missing.
 */
export async function startMongoWireServer(): Promise<MongoWireServer> {
  let ServerClass: WireServerClass;
  try {
    ServerClass = await loadWireServerClass();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `no MongoDB server: set MONGODB_URL, or install ${MONGO_WIRE_PACKAGE} for an in-process one (${message})`,
    );
  }
  const port = await freeLoopbackPort();
  const server = new ServerClass({ port, host: "127.0.0.1" });
  await server.start();
  return { url: `mongodb://127.0.0.1:${port}/?directConnection=true`, stop: () => server.stop() };
}
