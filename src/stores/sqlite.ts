/**
 * SQLite through better-sqlite3: the embedded default. Several processes may
 * share one file: WAL lets readers run beside the writer, and the busy
 * timeout makes a writer wait for the lock instead of failing. better-sqlite3
 * is synchronous, so each statement blocks the event loop while it runs
 * (microseconds normally, up to the busy timeout under write contention).
 */
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { importPeer } from "../core/peer.ts";
import { requireOneOf } from "./common.ts";
import {
  checkStep,
  onConflictDialect,
  type Row,
  SqlBrokerStore,
  type SqlConnection,
  type SqlDialect,
  type SqlResult,
  type SqlStoreOptions,
  type Statement,
  type TransactionStep,
} from "./sql.ts";

type Database = BetterSqlite3.Database;

export interface SQLiteBrokerStoreOptions extends SqlStoreOptions {
  /** Database file, created with its folder if missing; `":memory:"` for a private in-memory database. */
  path?: string;
  /** An open database to use instead; the store never closes it. */
  database?: Database;
  /** How long a writer waits for another connection's lock. Default 5000 ms. */
  busyTimeoutMs?: number;
}

// SQLite DDL is transactional and the database file lock serializes writers: no schema lock.
export const sqliteDialect: SqlDialect = {
  ...onConflictDialect,
  types: { integer: "INTEGER", key: "TEXT", issuer: "TEXT", text: "TEXT" },
};

export class SQLiteBrokerStore extends SqlBrokerStore {
  /** The database file, when the store opens it itself. */
  readonly path: string | undefined;

  constructor(options: SQLiteBrokerStoreOptions) {
    requireOneOf("SQLiteBrokerStore", { path: options.path, database: options.database });
    super(sqliteDialect, options, () => openSQLite(options));
    this.path = options.database ? undefined : options.path;
  }
}

async function openSQLite(options: SQLiteBrokerStoreOptions): Promise<SqlConnection> {
  if (options.database) return sqliteConnection(options.database, false);
  const path = options.path ?? ":memory:";
  const { default: Database } = await importPeer(
    "better-sqlite3",
    "The SQLite broker store",
    () => import("better-sqlite3"),
  );
  if (path !== ":memory:") await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const database = new Database(path);
  database.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  if (path !== ":memory:") database.pragma("journal_mode = WAL");
  return sqliteConnection(database, true);
}

function sqliteConnection(database: Database, owned: boolean): SqlConnection {
  const prepared = new Map<string, BetterSqlite3.Statement>();
  const prepare = (text: string) => {
    let statement = prepared.get(text);
    if (!statement) {
      statement = database.prepare(text);
      prepared.set(text, statement);
    }
    return statement;
  };
  const runSync = ({ text, params }: Statement): SqlResult => {
    const statement = prepare(text);
    if (statement.reader) return { rows: statement.all(...params) as Row[], changes: 0 };
    return { rows: [], changes: statement.run(...params).changes };
  };
  return {
    run: async (statement) => runSync(statement),
    // Synchronous on purpose: no other call can slip its statements into the open transaction.
    transaction: async (steps: readonly TransactionStep[]) => {
      database
        .transaction(() => {
          for (const step of steps) checkStep(step, runSync(step).changes);
        })
        .immediate();
    },
    close: async () => {
      prepared.clear();
      if (owned) database.close();
    },
  };
}

/** The folder where per-user application data lives on this platform. */
export function userDataDirectory(): string {
  if (process.platform === "win32") {
    return process.env.APPDATA ?? join(homedir(), "AppData", "Roaming");
  }
  if (process.platform === "darwin") return join(homedir(), "Library", "Application Support");
  const xdg = process.env.XDG_DATA_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  return xdg?.startsWith("/") ? xdg : join(homedir(), ".local", "share");
}

/**
 * The default broker database: `broker.sqlite` in the user's data directory
 * for `appName` (its folder created, private to the user).
 */
export async function defaultSQLitePath(appName: string): Promise<string> {
  const folderName = appName.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  if (folderName === "") throw new Error("appName must not be empty");
  const folder = join(userDataDirectory(), folderName);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  return join(folder, "broker.sqlite");
}
