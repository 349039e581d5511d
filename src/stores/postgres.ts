/** PostgreSQL through node-postgres (`pg`). */
import type { Pool, PoolClient } from "pg";
import { importPeer } from "../core/peer.ts";
import { DEFAULT_STORE_TIMEOUT_MS, requireOneOf } from "./common.ts";
import {
  onConflictDialect,
  pooledConnection,
  SqlBrokerStore,
  type SqlConnection,
  type SqlDialect,
  type SqlResult,
  type SqlStoreOptions,
  type Statement,
} from "./sql.ts";

export interface PostgresBrokerStoreOptions extends SqlStoreOptions {
  /** A `postgresql://` connection URL; the store opens (and closes) its own pool. */
  url?: string;
  /** An existing pool to use instead; the store never ends it. */
  pool?: Pool;
  /** Connection and query timeout of the pool the store opens, in ms. Default 5000. */
  timeoutMs?: number;
}

export const postgresDialect: SqlDialect = {
  ...onConflictDialect,
  types: { integer: "BIGINT", key: "TEXT", issuer: "TEXT", text: "TEXT" },
  // Concurrent CREATE TABLE IF NOT EXISTS can still fail on pg_type's unique
  // index, so schema creation takes a transaction-scoped advisory lock first.
  schemaLock: (lockName) => ({
    text: "SELECT pg_advisory_xact_lock(hashtext(?::text))",
    params: [lockName],
  }),
  dataModifyingCtes: true,
};

export class PostgresBrokerStore extends SqlBrokerStore {
  constructor(options: PostgresBrokerStoreOptions) {
    requireOneOf("PostgresBrokerStore", { url: options.url, pool: options.pool });
    super(postgresDialect, options, () => openPostgres(options));
  }
}

async function openPostgres(options: PostgresBrokerStoreOptions): Promise<SqlConnection> {
  if (options.pool) return postgresConnection(options.pool, false);
  const { Pool } = await importPeer("pg", "The PostgreSQL broker store", () => import("pg"));
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  // Without timeouts, a connection attempt or a query on a server that
  // stopped answering waits for the kernel (minutes) while requests pile up.
  const pool = new Pool({
    connectionString: options.url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    keepAlive: true,
  });
  // Without a listener, an idle connection dropped by the server would crash
  // the process; the next query reconnects and reports any real problem.
  pool.on("error", () => undefined);
  return postgresConnection(pool, true);
}

/** pg numbers its placeholders: `?` becomes `$1`, `$2`, ... */
function numberPlaceholders(text: string): string {
  let index = 0;
  return text.replace(/\?/g, () => `$${++index}`);
}

/**
 * Statements with parameters as named prepared statements, one name per
 * text: each connection parses and plans a statement once, not on every
 * rotation (the store's statements are a fixed set, so this stays small).
 */
const prepared = new Map<string, { name: string; text: string }>();

function preparedQuery(text: string): { name: string; text: string } {
  let query = prepared.get(text);
  if (query === undefined) {
    query = { name: `ts_oidc_auth_${prepared.size + 1}`, text: numberPlaceholders(text) };
    prepared.set(text, query);
  }
  return query;
}

async function runOn(target: Pool | PoolClient, { text, params }: Statement): Promise<SqlResult> {
  const result =
    params.length === 0
      ? await target.query(text)
      : await target.query({ ...preparedQuery(text), values: [...params] });
  return { rows: result.rows, changes: result.rowCount ?? 0 };
}

function postgresConnection(pool: Pool, owned: boolean): SqlConnection {
  return pooledConnection<PoolClient>(
    {
      run: (statement, client) => runOn(client ?? pool, statement),
      acquire: () => pool.connect(),
      // pg destroys a client released with `true`.
      release: (client, broken) => client.release(broken),
      end: () => pool.end(),
    },
    owned,
  );
}
