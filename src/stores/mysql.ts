/** MySQL and MariaDB through `mysql2/promise`. */
import type { Pool, PoolConnection } from "mysql2/promise";
import { importPeer } from "../core/peer.ts";
import { DEFAULT_STORE_TIMEOUT_MS, requireOneOf } from "./common.ts";
import {
  pooledConnection,
  type Row,
  SqlBrokerStore,
  type SqlConnection,
  type SqlDialect,
  type SqlResult,
  type SqlStoreOptions,
  type Statement,
} from "./sql.ts";

export interface MySQLBrokerStoreOptions extends SqlStoreOptions {
  /** A `mysql://` connection URL; the store opens (and closes) its own pool. */
  url?: string;
  /** An existing pool to use instead; the store never ends it. */
  pool?: Pool;
  /** Connection and query timeout of the pool the store opens, in ms. Default 5000. */
  timeoutMs?: number;
}

// Keys compare byte for byte: the default collations ignore case, and token
// hashes and ids are case-sensitive.
const BINARY_KEY = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

export const mysqlDialect: SqlDialect = {
  types: {
    integer: "BIGINT",
    key: `VARCHAR(255) ${BINARY_KEY}`,
    // Fits InnoDB's 3072-byte index limit in utf8mb4.
    issuer: `VARCHAR(700) ${BINARY_KEY}`,
    text: "MEDIUMTEXT",
  },
  // INSERT IGNORE reports 0 affected rows for a duplicate; ON DUPLICATE KEY
  // UPDATE would report 1 under the FOUND_ROWS flag mysql2 sets.
  insertIfAbsentKeyword: "INSERT IGNORE",
  insertIfAbsentSuffix: () => "",
  // VALUES() rather than the row alias syntax, which MariaDB lacks.
  upsertSuffix: (_column, columns) =>
    ` ON DUPLICATE KEY UPDATE ${columns.map((c) => `${c} = VALUES(${c})`).join(", ")}`,
  inlineIndexes: true,
  // DDL commits implicitly here; CREATE TABLE IF NOT EXISTS is atomic under metadata locks.
  transactionalDdl: false,
};

export class MySQLBrokerStore extends SqlBrokerStore {
  constructor(options: MySQLBrokerStoreOptions) {
    requireOneOf("MySQLBrokerStore", { url: options.url, pool: options.pool });
    super(mysqlDialect, options, () => openMySQL(options));
  }
}

async function openMySQL(options: MySQLBrokerStoreOptions): Promise<SqlConnection> {
  if (options.pool) return mysqlConnection(options.pool, false, undefined);
  const { createPool } = await importPeer(
    "mysql2",
    "The MySQL broker store",
    () => import("mysql2/promise"),
  );
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  // Bounded, so that a server that stopped answering fails the call instead of holding it.
  const pool = createPool({
    uri: mysqlUrl(options.url ?? ""),
    connectTimeout: timeoutMs,
    enableKeepAlive: true,
  });
  return mysqlConnection(pool, true, timeoutMs);
}

/** mysql2 reads only `mysql://` URLs; `mariadb://` names the same protocol. */
function mysqlUrl(url: string): string {
  return url.replace(/^mariadb:/i, "mysql:");
}

async function runOn(
  target: Pool | PoolConnection,
  { text, params }: Statement,
  timeoutMs: number | undefined,
): Promise<SqlResult> {
  // query() rather than execute(): server-side prepared statements reject a
  // placeholder in LIMIT on some MySQL versions; query() escapes values itself.
  const [result] = await target.query({ sql: text, timeout: timeoutMs }, [...params]);
  if (Array.isArray(result)) return { rows: (result as unknown[]).filter(isRow), changes: 0 };
  return { rows: [], changes: "affectedRows" in result ? result.affectedRows : 0 };
}

function isRow(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mysqlConnection(pool: Pool, owned: boolean, timeoutMs: number | undefined): SqlConnection {
  return pooledConnection<PoolConnection>(
    {
      run: (statement, connection) => runOn(connection ?? pool, statement, timeoutMs),
      acquire: () => pool.getConnection(),
      release: (connection, broken) => (broken ? connection.destroy() : connection.release()),
      end: () => pool.end(),
    },
    owned,
  );
}
