/**
 * Broker stores and the URL that picks one. Besides the plain schemes, the
 * SQLAlchemy-style `scheme+driver://` URLs of py-oidc-auth deployments
 * (`postgresql+asyncpg://`, `sqlite+aiosqlite:///`, `mysql+aiomysql://`, ...)
 * are read as the same backend, so a configuration moves over unchanged.
 */
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import {
  DEFAULT_STORE_TIMEOUT_MS,
  RotationConflictError,
  StoreTimeoutError,
  withCallTimeout,
} from "./common.ts";
import { MemoryBrokerStore } from "./memory.ts";
import { MongoDBBrokerStore } from "./mongodb.ts";
import { MySQLBrokerStore } from "./mysql.ts";
import { PostgresBrokerStore } from "./postgres.ts";
import { RedisBrokerStore } from "./redis.ts";
import { defaultSQLitePath, SQLiteBrokerStore } from "./sqlite.ts";
import type { BrokerStore } from "./types.ts";

export { MemoryBrokerStore, type MemoryStoreSize } from "./memory.ts";
export { MongoDBBrokerStore, type MongoDBBrokerStoreOptions } from "./mongodb.ts";
export { MySQLBrokerStore, type MySQLBrokerStoreOptions } from "./mysql.ts";
export { PostgresBrokerStore, type PostgresBrokerStoreOptions } from "./postgres.ts";
export { RedisBrokerStore, type RedisBrokerStoreOptions } from "./redis.ts";
export {
  defaultSQLitePath,
  SQLiteBrokerStore,
  type SQLiteBrokerStoreOptions,
  userDataDirectory,
} from "./sqlite.ts";
export type * from "./types.ts";
export { DEFAULT_STORE_TIMEOUT_MS, RotationConflictError, StoreTimeoutError, withCallTimeout };

export type StoreBackend = "memory" | "sqlite" | "postgres" | "mysql" | "mongodb" | "redis";

/** A store URL read: which backend, and what to hand its driver. */
export type StoreLocation =
  | { backend: "memory" }
  | { backend: "sqlite"; path: string }
  | { backend: Exclude<StoreBackend, "memory" | "sqlite">; url: string };

const SCHEMES: Record<string, StoreBackend> = {
  memory: "memory",
  sqlite: "sqlite",
  postgresql: "postgres",
  postgres: "postgres",
  mysql: "mysql",
  mariadb: "mysql",
  mongodb: "mongodb",
  redis: "redis",
  rediss: "redis",
};

/** `mongodb+srv` is a scheme of its own, not mongodb with a driver suffix. */
const KEPT_SCHEMES = new Set(["mongodb+srv"]);

const SUPPORTED =
  "memory://, sqlite:///relative/path, sqlite:////absolute/path, sqlite://:memory:, " +
  "postgresql://, postgres://, mysql://, mariadb://, mongodb://, mongodb+srv://, " +
  "redis://, rediss:// (a +driver suffix such as postgresql+asyncpg:// is accepted)";

/**
 * Reads a broker store URL. Errors name the scheme but never repeat the URL,
 * which may hold a password.
 */
export function parseStoreUrl(url: string): StoreLocation {
  const separator = url.indexOf("://");
  if (separator <= 0) {
    throw new Error(`A broker store URL must start with a scheme; supported: ${SUPPORTED}`);
  }
  const scheme = url.slice(0, separator).toLowerCase();
  const rest = url.slice(separator + 3);
  if (KEPT_SCHEMES.has(scheme)) return { backend: "mongodb", url };
  const base = scheme.split("+")[0] ?? "";
  const backend = SCHEMES[base];
  if (!backend) {
    throw new Error(`Unsupported broker store URL scheme "${scheme}"; supported: ${SUPPORTED}`);
  }
  if (backend === "memory") return { backend };
  if (backend === "sqlite") return { backend, path: sqlitePath(rest) };
  // The driver suffix means nothing to the Node drivers: drop it.
  const driverScheme = backend === "postgres" ? "postgresql" : base === "mariadb" ? "mysql" : base;
  return { backend, url: `${driverScheme}://${rest}` };
}

/**
 * SQLAlchemy's reading: `sqlite:///relative/path` (three slashes) is relative
 * to the working directory, `sqlite:////absolute/path` (four) is absolute, and
 * `sqlite://`, `sqlite://:memory:` and `sqlite:///:memory:` are in-memory.
 * As py-oidc-auth does (broker/store.py `create_broker_store`), a relative
 * path that starts with `~` starts in the home directory: `sqlite:///~/app.sqlite`.
 */
function sqlitePath(rest: string): string {
  const withoutQuery = rest.split("?")[0] ?? "";
  const path = withoutQuery.startsWith("/") ? withoutQuery.slice(1) : withoutQuery;
  if (path === "" || path === ":memory:") return ":memory:";
  if (path.startsWith("~/")) return join(homedir(), path.slice(2));
  if (path.startsWith("~")) {
    // py-oidc-auth turns `~bob/x` into `<home>bob/x`, which is surely not
    // what was meant; refuse rather than guess.
    throw new Error(
      "A sqlite store path may start with ~/ (the home directory), but not otherwise with ~ (~user is not read); write the absolute path (sqlite:////path)",
    );
  }
  return isAbsolute(path) ? path : resolve(path);
}

export interface CreateBrokerStoreOptions {
  /** Names the folder of the default SQLite database. Default `"ts-oidc-auth"`. */
  appName?: string;
  /** Prefix of table, collection or key names. Default `oidc_broker_` (`oidc_broker:` for Redis). */
  prefix?: string;
  /**
   * Bound of every store call and of connecting, in milliseconds: the
   * drivers' connection and query timeouts, and a timer around each call.
   * Default 5000.
   */
  timeoutMs?: number;
}

/**
 * Creates the store a URL names, without connecting yet: call `init()`
 * before use (the broker does). With no URL, the store is a SQLite file in
 * the user's data directory for `appName`.
 */
export async function createBrokerStore(
  url?: string,
  options: CreateBrokerStoreOptions = {},
): Promise<BrokerStore> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const { store, name } = await openBackend(url, options.prefix, options.appName, timeoutMs);
  return withCallTimeout(store, timeoutMs, name);
}

async function openBackend(
  url: string | undefined,
  prefix: string | undefined,
  appName: string | undefined,
  timeoutMs: number,
): Promise<{ store: BrokerStore; name: string }> {
  if (url === undefined || url === "") {
    const path = await defaultSQLitePath(appName ?? "ts-oidc-auth");
    return { store: new SQLiteBrokerStore({ path, tablePrefix: prefix }), name: "SQLite" };
  }
  const location = parseStoreUrl(url);
  switch (location.backend) {
    case "memory":
      return { store: new MemoryBrokerStore(), name: "memory store" };
    case "sqlite":
      return {
        store: new SQLiteBrokerStore({ path: location.path, tablePrefix: prefix }),
        name: "SQLite",
      };
    case "postgres":
      return {
        store: new PostgresBrokerStore({ url: location.url, tablePrefix: prefix, timeoutMs }),
        name: "PostgreSQL",
      };
    case "mysql":
      return {
        store: new MySQLBrokerStore({ url: location.url, tablePrefix: prefix, timeoutMs }),
        name: "MySQL",
      };
    case "mongodb":
      return {
        store: new MongoDBBrokerStore({
          url: location.url,
          collectionPrefix: prefix,
          timeoutMs,
        }),
        name: "MongoDB",
      };
    case "redis":
      return {
        store: new RedisBrokerStore({ url: location.url, keyPrefix: prefix, timeoutMs }),
        name: "Redis",
      };
  }
}
