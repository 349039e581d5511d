/**
 * SQLite through better-sqlite3: the embedded default. Several processes may
 * share one file: WAL lets readers run beside the writer, and a writer that
 * finds the lock taken waits for it, up to the busy timeout, then fails (503).
 * better-sqlite3 is synchronous: SQLite's own busy handler would sleep inside
 * the call and freeze the event loop for the whole wait, stalling requests
 * that need no store (docs/broker.md "Running several instances"). So the driver's
 * busy timeout is 0 and the store waits itself, asynchronously, retrying the
 * statement with a bounded backoff; each attempt blocks only for as long as
 * the statement runs.
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
  /** How long a statement waits for another connection's lock before failing. Default 5000 ms. */
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

/** The first wait after SQLITE_BUSY; it doubles per attempt up to the longest. */
const FIRST_BUSY_WAIT_MS = 2;
const LONGEST_BUSY_WAIT_MS = 100;

/**
 * Runs `attempt` until it does not fail with SQLITE_BUSY or `timeoutMs` has
 * passed (then the last error, which the broker answers with a 503).
 */
async function retryWhileBusy<T>(attempt: () => T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = FIRST_BUSY_WAIT_MS; ; wait = Math.min(wait * 2, LONGEST_BUSY_WAIT_MS)) {
    try {
      return attempt();
    } catch (error) {
      const left = deadline - Date.now();
      if (!isBusy(error) || left <= 0) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, left)));
    }
  }
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT, ...). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_"));
}

async function openSQLite(options: SQLiteBrokerStoreOptions): Promise<SqlConnection> {
  const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
  if (options.database) return sqliteConnection(options.database, false, busyTimeoutMs);
  const path = options.path ?? ":memory:";
  const { default: Database } = await importPeer(
    "better-sqlite3",
    "The SQLite broker store",
    () => import("better-sqlite3"),
  );
  if (path !== ":memory:") await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const database = new Database(path);
  database.pragma("busy_timeout = 0");
  // Switching a file to WAL needs it to itself: another process creating it at the same moment
  // answers SQLITE_BUSY at once (no busy handler runs for this), so the switch is retried too.
  if (path !== ":memory:") {
    await retryWhileBusy(() => database.pragma("journal_mode = WAL"), busyTimeoutMs);
  }
  return sqliteConnection(database, true, busyTimeoutMs);
}

function sqliteConnection(
  database: Database,
  owned: boolean,
  busyTimeoutMs: number,
): SqlConnection {
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
  const transaction = (steps: readonly TransactionStep[]) =>
    database.transaction(() => {
      for (const step of steps) checkStep(step, runSync(step).changes);
    });
  return {
    run: (statement) => retryWhileBusy(() => runSync(statement), busyTimeoutMs),
    // Each attempt is synchronous on purpose: no other call can slip its statements into the
    // open transaction. BEGIN IMMEDIATE takes the write lock first, so a busy attempt has
    // written nothing (and a failed one is rolled back) and can simply be tried again.
    transaction: async (steps: readonly TransactionStep[]) => {
      await retryWhileBusy(() => transaction(steps).immediate(), busyTimeoutMs);
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
