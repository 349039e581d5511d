/**
 * The broker store for SQL databases, written once. SQLite, PostgreSQL and
 * MySQL/MariaDB differ only in column types, "insert unless present",
 * "insert or replace", where index definitions go and how concurrent schema
 * creation is serialized; a SqlDialect captures exactly that, and a
 * SqlConnection runs statements written with `?` placeholders.
 */
import {
  checkNamePrefix,
  DEFAULT_NAME_PREFIX,
  Lazy,
  nowSeconds,
  ROTATION_NOT_CLAIMED,
  ROTATION_SESSION_GONE,
  RotationConflictError,
  unclaimedResult,
} from "./common.ts";
import type {
  BrokerStore,
  ConsumeResult,
  RefreshClaim,
  RefreshTokenRecord,
  Rotation,
  SessionRecord,
  SigningKeyRecord,
} from "./types.ts";

export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

export interface Statement {
  text: string;
  params: readonly SqlValue[];
}

export interface SqlResult {
  rows: Row[];
  /** Rows the statement inserted, updated or deleted (matched rows on MySQL). */
  changes: number;
}

export interface TransactionStep extends Statement {
  /** When set, the whole transaction rolls back with this message if the step changes no row. */
  mustChange?: string;
}

/** A connection (or pool) as the SQL store needs it. */
export interface SqlConnection {
  run(statement: Statement): Promise<SqlResult>;
  /** Runs the steps all or nothing. */
  transaction(steps: readonly TransactionStep[]): Promise<void>;
  /** Closes what the store opened itself; a pool the user passed in stays open. */
  close(): Promise<void>;
}

type ColumnKind = "integer" | "key" | "issuer" | "text";

export interface SqlDialect {
  types: Record<ColumnKind, string>;
  /** INSERT that silently skips a row whose unique key already exists. */
  insertIfAbsentKeyword: string;
  insertIfAbsentSuffix(conflictColumn: string): string;
  /** Suffix that turns an INSERT into "insert or replace these columns". */
  upsertSuffix(conflictColumn: string, columns: readonly string[]): string;
  /** MySQL declares indexes inside CREATE TABLE; the others with CREATE INDEX IF NOT EXISTS. */
  inlineIndexes: boolean;
  /** A first step that serializes concurrent schema creation, where IF NOT EXISTS alone races. */
  schemaLock?(lockName: string): Statement;
  /** MySQL commits implicitly around DDL, so its schema statements run one by one. */
  transactionalDdl: boolean;
  /**
   * Data-modifying statements in `WITH` (PostgreSQL): a rotation is recorded
   * in one statement, one round trip, instead of BEGIN, four statements and
   * COMMIT on a checked-out connection.
   */
  dataModifyingCtes?: boolean;
}

/** Throws (so that the transaction rolls back) when a step that must change a row did not. */
export function checkStep(step: TransactionStep, changes: number): void {
  if (step.mustChange !== undefined && changes === 0) {
    throw new RotationConflictError(step.mustChange);
  }
}

/** BEGIN, the steps, COMMIT on one connection; ROLLBACK on any failure. */
async function runTransaction(
  run: (statement: Statement) => Promise<SqlResult>,
  steps: readonly TransactionStep[],
): Promise<void> {
  await run({ text: "BEGIN", params: [] });
  try {
    for (const step of steps) checkStep(step, (await run(step)).changes);
    await run({ text: "COMMIT", params: [] });
  } catch (error) {
    await run({ text: "ROLLBACK", params: [] }).catch(() => undefined);
    throw error;
  }
}

/** What a pooled driver offers: statements on the pool or on one checked-out client. */
export interface SqlPool<Client> {
  run(statement: Statement, client?: Client): Promise<SqlResult>;
  acquire(): Promise<Client>;
  /** `broken`: the transaction failed for a reason other than its own checks, so the client may be dead. */
  release(client: Client, broken: boolean): void;
  end(): Promise<void>;
}

const DEADLOCK_ATTEMPTS = 3;

/**
 * A transaction the server chose as a deadlock victim (InnoDB's
 * ER_LOCK_DEADLOCK, PostgreSQL's 40P01): concurrent rotations of different
 * sessions can meet in the token table's session index.
 */
function isDeadlock(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  return code === "ER_LOCK_DEADLOCK" || errno === 1213 || code === "40P01";
}

/** Runs `attempt` again when the server picked it as a deadlock victim, which it rolled back whole. */
async function retryingDeadlocks<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isDeadlock(error) || tries === DEADLOCK_ATTEMPTS) throw error;
    }
  }
}

/** A SqlConnection over a pool; transactions hold one client from BEGIN to COMMIT. */
export function pooledConnection<Client>(pool: SqlPool<Client>, owned: boolean): SqlConnection {
  return {
    run: (statement) => pool.run(statement),
    transaction: (steps) =>
      retryingDeadlocks(async () => {
        const client = await pool.acquire();
        try {
          await runTransaction((statement) => pool.run(statement, client), steps);
          pool.release(client, false);
        } catch (error) {
          // A connection cut mid-transaction must not go back to the pool for the next caller.
          pool.release(client, !(error instanceof RotationConflictError) && !isDeadlock(error));
          throw error;
        }
      }),
    close: async () => {
      if (owned) await pool.end();
    },
  };
}

/** The `ON CONFLICT` forms SQLite and PostgreSQL share. */
export const onConflictDialect = {
  insertIfAbsentKeyword: "INSERT",
  insertIfAbsentSuffix: (column: string) => ` ON CONFLICT (${column}) DO NOTHING`,
  upsertSuffix: (column: string, columns: readonly string[]) =>
    ` ON CONFLICT (${column}) DO UPDATE SET ${columns.map((c) => `${c} = excluded.${c}`).join(", ")}`,
  inlineIndexes: false,
  transactionalDdl: true,
} satisfies Omit<SqlDialect, "types">;

interface TableSpec {
  name: string;
  columns: ReadonlyArray<readonly [name: string, kind: ColumnKind, nullable?: "null"]>;
  primaryKey: string;
  indexes: readonly string[];
}

type TableKey = "signingKeys" | "sessions" | "owners" | "tokens" | "peers" | "usedIds";

/** The table names for a prefix. */
function sqlTableNames(prefix: string): Record<TableKey, string> {
  return {
    signingKeys: `${prefix}signing_keys`,
    sessions: `${prefix}sessions`,
    owners: `${prefix}session_owners`,
    tokens: `${prefix}refresh_tokens`,
    peers: `${prefix}peer_jwks`,
    usedIds: `${prefix}used_ids`,
  };
}

function tableSpecs(names: Record<TableKey, string>): TableSpec[] {
  return [
    {
      name: names.signingKeys,
      columns: [
        ["slot", "integer"],
        ["kid", "key"],
        ["alg", "key"],
        ["public_jwk", "text"],
        ["private_jwk", "text"],
        ["created_at", "integer"],
      ],
      primaryKey: "slot",
      indexes: [],
    },
    {
      name: names.sessions,
      columns: [
        ["id", "key"],
        ["subject", "text"],
        ["data", "text"],
        ["created_at", "integer"],
        ["expires_at", "integer"],
      ],
      primaryKey: "id",
      indexes: ["expires_at"],
    },
    // Who each session belongs to at the IdP, indexed for back-channel logout
    // (revokeSessionsOf). A table of its own, so that databases created by
    // earlier versions gain it with CREATE TABLE IF NOT EXISTS alone.
    {
      name: names.owners,
      columns: [
        ["session_id", "key"],
        ["subject", "key"],
        ["idp_sid", "key", "null"],
        ["expires_at", "integer"],
      ],
      primaryKey: "session_id",
      indexes: ["subject", "idp_sid", "expires_at"],
    },
    {
      name: names.tokens,
      columns: [
        ["hash", "key"],
        ["session_id", "key"],
        ["expires_at", "integer"],
        ["consumed_at", "integer", "null"],
        ["successor", "text", "null"],
      ],
      primaryKey: "hash",
      indexes: ["session_id", "expires_at"],
    },
    {
      name: names.peers,
      columns: [
        ["issuer", "issuer"],
        ["jwks", "text"],
        ["fetched_at", "integer"],
      ],
      primaryKey: "issuer",
      indexes: [],
    },
    {
      name: names.usedIds,
      columns: [
        ["id", "key"],
        ["expires_at", "integer"],
      ],
      primaryKey: "id",
      indexes: ["expires_at"],
    },
  ];
}

function schemaStatements(dialect: SqlDialect, table: TableSpec): string[] {
  const columns = table.columns.map(
    ([name, kind, nullable]) =>
      `${name} ${dialect.types[kind]}${nullable === "null" ? "" : " NOT NULL"}`,
  );
  const indexName = (column: string) => `${table.name}_${column}_idx`;
  const inline = dialect.inlineIndexes
    ? table.indexes.map((column) => `INDEX ${indexName(column)} (${column})`)
    : [];
  const create = `CREATE TABLE IF NOT EXISTS ${table.name} (${[
    ...columns,
    `PRIMARY KEY (${table.primaryKey})`,
    ...inline,
  ].join(", ")})`;
  const separate = dialect.inlineIndexes
    ? []
    : table.indexes.map(
        (column) => `CREATE INDEX IF NOT EXISTS ${indexName(column)} ON ${table.name} (${column})`,
      );
  return [create, ...separate];
}

function asNumber(value: unknown): number {
  // PostgreSQL returns BIGINT as a string, SQLite may return a bigint.
  if (typeof value === "number") return value;
  if (typeof value === "string" || typeof value === "bigint") return Number(value);
  throw new TypeError(`expected a number from the database, got ${typeof value}`);
}

function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8");
  throw new TypeError(`expected text from the database, got ${typeof value}`);
}

function toSigningKey(row: Row): SigningKeyRecord {
  return {
    slot: asNumber(row.slot),
    kid: asText(row.kid),
    alg: asText(row.alg),
    publicJwk: asText(row.public_jwk),
    privateJwk: asText(row.private_jwk),
    createdAt: asNumber(row.created_at),
  };
}

/** Session columns may come aliased with a prefix (`s_`) from a join. */
function toSession(row: Row, alias = ""): SessionRecord {
  const idpSid = row[`${alias}idp_sid`];
  return {
    id: asText(row[`${alias}id`]),
    subject: asText(row[`${alias}subject`]),
    ...(idpSid === null || idpSid === undefined ? {} : { idpSid: asText(idpSid) }),
    data: asText(row[`${alias}data`]),
    createdAt: asNumber(row[`${alias}created_at`]),
    expiresAt: asNumber(row[`${alias}expires_at`]),
  };
}

function toToken(row: Row): RefreshTokenRecord {
  return {
    hash: asText(row.hash),
    sessionId: asText(row.session_id),
    expiresAt: asNumber(row.expires_at),
    consumedAt: row.consumed_at === null ? null : asNumber(row.consumed_at),
    successor: row.successor === null ? null : asText(row.successor),
  };
}

const KEY_COLUMNS = "slot, kid, alg, public_jwk, private_jwk, created_at";
const SESSION_COLUMNS = "id, subject, data, created_at, expires_at";
/** The session's columns and its IdP session id, from `sessions s LEFT JOIN session_owners o`. */
const SESSION_SELECT = "s.id, s.subject, s.data, s.created_at, s.expires_at, o.idp_sid";
const TOKEN_COLUMNS = "hash, session_id, expires_at, consumed_at, successor";

function tokenValues(token: RefreshTokenRecord): SqlValue[] {
  return [token.hash, token.sessionId, token.expiresAt, token.consumedAt, token.successor];
}

export interface SqlStoreOptions {
  /** Prefix of every table name. Default `oidc_broker_`. */
  tablePrefix?: string;
}

/** The BrokerStore on any SQL database; the backend classes only supply the connection. */
export class SqlBrokerStore implements BrokerStore {
  /** Table names. */
  private readonly t: Record<TableKey, string>;
  private readonly connection: Lazy<SqlConnection>;
  private readonly schema = new Lazy(() => this.createSchema());

  constructor(
    private readonly dialect: SqlDialect,
    options: SqlStoreOptions,
    connect: () => Promise<SqlConnection>,
  ) {
    this.connection = new Lazy(connect);
    const prefix = checkNamePrefix(options.tablePrefix ?? DEFAULT_NAME_PREFIX, "tablePrefix");
    this.t = sqlTableNames(prefix);
  }

  /** The connection, opened on first use. */
  protected db(): Promise<SqlConnection> {
    return this.connection.get();
  }

  init(): Promise<void> {
    return this.schema.get();
  }

  private async createSchema(): Promise<void> {
    const db = await this.db();
    const ddl = tableSpecs(this.t)
      .flatMap((table) => schemaStatements(this.dialect, table))
      .map((text) => ({ text, params: [] }));
    if (!this.dialect.transactionalDdl) {
      for (const statement of ddl) await db.run(statement);
      return;
    }
    const lock = this.dialect.schemaLock?.(`ts-oidc-auth:${this.t.signingKeys}`);
    await db.transaction(lock ? [lock, ...ddl] : ddl);
  }

  /** The first row of a query, mapped; null when there is none. */
  private async selectOne<T>(
    text: string,
    params: readonly SqlValue[],
    map: (row: Row) => T,
  ): Promise<T | null> {
    const { rows } = await (await this.db()).run({ text, params });
    const [row] = rows;
    return row ? map(row) : null;
  }

  async close(): Promise<void> {
    this.schema.take();
    const connection = this.connection.take();
    if (connection) await (await connection).close();
  }

  async putSigningKeyIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    const db = await this.db();
    const { insertIfAbsentKeyword: insert, insertIfAbsentSuffix: suffix } = this.dialect;
    await db.run({
      text: `${insert} INTO ${this.t.signingKeys} (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)${suffix("slot")}`,
      params: [key.slot, key.kid, key.alg, key.publicJwk, key.privateJwk, key.createdAt],
    });
    const winner = await this.selectOne(
      `SELECT ${KEY_COLUMNS} FROM ${this.t.signingKeys} WHERE slot = ?`,
      [key.slot],
      toSigningKey,
    );
    if (!winner) throw new Error(`signing key slot ${key.slot} vanished after insert`);
    return winner;
  }

  async listSigningKeys(limit: number): Promise<SigningKeyRecord[]> {
    const { rows } = await (await this.db()).run({
      text: `SELECT ${KEY_COLUMNS} FROM ${this.t.signingKeys} ORDER BY slot DESC LIMIT ?`,
      params: [Math.max(0, Math.floor(limit))],
    });
    return rows.map(toSigningKey);
  }

  async createSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void> {
    await (await this.db()).transaction([
      {
        text: `INSERT INTO ${this.t.sessions} (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
        params: [session.id, session.subject, session.data, session.createdAt, session.expiresAt],
      },
      {
        text: `INSERT INTO ${this.t.owners} (session_id, subject, idp_sid, expires_at) VALUES (?, ?, ?, ?)`,
        params: [session.id, session.subject, session.idpSid ?? null, session.expiresAt],
      },
      this.insertToken(firstToken),
    ]);
  }

  private insertToken(token: RefreshTokenRecord): Statement {
    return {
      text: `INSERT INTO ${this.t.tokens} (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
      params: tokenValues(token),
    };
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    return this.selectOne(
      `SELECT ${SESSION_SELECT} FROM ${this.t.sessions} s ` +
        `LEFT JOIN ${this.t.owners} o ON o.session_id = s.id WHERE s.id = ? AND s.expires_at > ?`,
      [id, nowSeconds()],
      (row) => toSession(row),
    );
  }

  async revokeSession(id: string): Promise<void> {
    await (await this.db()).transaction(this.deleteSessions("= ?", [id]));
  }

  /**
   * The statements that delete the sessions whose id matches `condition`,
   * with their owners and tokens. Sessions first: from then on their tokens
   * consume as "unknown". The tables are taken in the order in which
   * createSchema takes them, so that an instance still creating its schema
   * (CREATE INDEX IF NOT EXISTS locks each table) cannot deadlock with this.
   */
  private deleteSessions(condition: string, params: SqlValue[]): Statement[] {
    return [
      { text: `DELETE FROM ${this.t.sessions} WHERE id ${condition}`, params },
      { text: `DELETE FROM ${this.t.owners} WHERE session_id ${condition}`, params },
      { text: `DELETE FROM ${this.t.tokens} WHERE session_id ${condition}`, params },
    ];
  }

  async revokeSessionsOf(who: { subject?: string; idpSid?: string }): Promise<number> {
    const { subject, idpSid } = who;
    let where: string;
    let params: SqlValue[];
    if (subject === undefined) {
      if (idpSid === undefined) return 0;
      [where, params] = ["idp_sid = ?", [idpSid]];
    } else if (idpSid === undefined) {
      [where, params] = ["subject = ?", [subject]];
    } else {
      [where, params] = ["subject = ? AND (idp_sid = ? OR idp_sid IS NULL)", [subject, idpSid]];
    }
    const db = await this.db();
    const { rows } = await db.run({
      text: `SELECT session_id FROM ${this.t.owners} WHERE ${where}`,
      params,
    });
    const ids = rows.map((row) => asText(row.session_id));
    if (ids.length === 0) return 0;
    // One transaction per batch keeps the statements' parameter lists bounded.
    for (let start = 0; start < ids.length; start += 100) {
      const batch = ids.slice(start, start + 100);
      await db.transaction(this.deleteSessions(`IN (${batch.map(() => "?").join(", ")})`, batch));
    }
    return ids.length;
  }

  async consumeRefreshToken(hash: string, now: number): Promise<ConsumeResult> {
    return this.claim(hash, now, "consumed_at IS NULL", []);
  }

  async reclaimRefreshToken(claim: RefreshClaim, now: number): Promise<ConsumeResult> {
    return this.claim(claim.hash, now, "consumed_at = ? AND successor IS NULL", [claim.claimedAt]);
  }

  /** The claim is one conditional UPDATE: of concurrent callers, only one matches `condition`. */
  private async claim(
    hash: string,
    now: number,
    condition: string,
    conditionParams: SqlValue[],
  ): Promise<ConsumeResult> {
    const db = await this.db();
    const { sessions, tokens } = this.t;
    const claim = await db.run({
      text:
        `UPDATE ${tokens} SET consumed_at = ? ` +
        `WHERE hash = ? AND ${condition} AND expires_at > ? ` +
        `AND EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions}.id = ${tokens}.session_id AND ${sessions}.expires_at > ?)`,
      params: [now, hash, ...conditionParams, now, now],
    });
    const { token, session } = await this.readTokenWithSession(db, hash);
    if (claim.changes === 1 && token && session) return { status: "claimed", token, session };
    return unclaimedResult(token, session, now);
  }

  private async readTokenWithSession(
    db: SqlConnection,
    hash: string,
  ): Promise<{ token: RefreshTokenRecord | null; session: SessionRecord | null }> {
    const { rows } = await db.run({
      text:
        `SELECT t.hash, t.session_id, t.expires_at, t.consumed_at, t.successor, ` +
        `s.id AS s_id, s.subject AS s_subject, s.data AS s_data, ` +
        `s.created_at AS s_created_at, s.expires_at AS s_expires_at, o.idp_sid AS s_idp_sid ` +
        `FROM ${this.t.tokens} t LEFT JOIN ${this.t.sessions} s ON s.id = t.session_id ` +
        `LEFT JOIN ${this.t.owners} o ON o.session_id = t.session_id WHERE t.hash = ?`,
      params: [hash],
    });
    const [row] = rows;
    if (!row) return { token: null, session: null };
    return { token: toToken(row), session: row.s_id === null ? null : toSession(row, "s_") };
  }

  async releaseRefreshToken(claim: RefreshClaim): Promise<void> {
    await (await this.db()).run({
      text:
        `UPDATE ${this.t.tokens} SET consumed_at = NULL ` +
        `WHERE hash = ? AND consumed_at = ? AND successor IS NULL`,
      params: [claim.hash, claim.claimedAt],
    });
  }

  async completeRotation(rotation: Rotation): Promise<void> {
    const db = await this.db();
    if (!this.dialect.dataModifyingCtes) {
      await db.transaction(this.rotationSteps(rotation));
      return;
    }
    const { rows } = await retryingDeadlocks(() => db.run(this.rotationStatement(rotation)));
    const counts = rows[0] ?? {};
    if (Number(counts.claimed) === 0) throw new RotationConflictError(ROTATION_NOT_CLAIMED);
    if (Number(counts.renewed) === 0) throw new RotationConflictError(ROTATION_SESSION_GONE);
  }

  private rotationSteps({
    claim,
    successor,
    next,
    sessionData,
    completedAt,
  }: Rotation): TransactionStep[] {
    const { tokens, sessions } = this.t;
    return [
      {
        text:
          `UPDATE ${tokens} SET successor = ?, consumed_at = ? ` +
          `WHERE hash = ? AND consumed_at = ? AND successor IS NULL`,
        params: [successor, completedAt, claim.hash, claim.claimedAt],
        mustChange: ROTATION_NOT_CLAIMED,
      },
      {
        text: `UPDATE ${sessions} SET data = ? WHERE id = ?`,
        params: [sessionData, next.sessionId],
        mustChange: ROTATION_SESSION_GONE,
      },
      // Older rotations: reuse of them is recognised by the session's generation, not by a row.
      {
        text: `DELETE FROM ${tokens} WHERE session_id = ? AND hash <> ?`,
        params: [next.sessionId, claim.hash],
      },
      this.insertToken(next),
    ];
  }

  /**
   * `rotationSteps` as one statement. The claim's UPDATE also checks that
   * the session exists, and every later part runs only if the part before it
   * changed its row, so that a lost claim or a missing session changes
   * nothing, as the transaction's rollback would. Should a revocation commit
   * between the claim's UPDATE and the session's (both in this statement),
   * the claimed token keeps its new consumed_at and successor: its session
   * is gone, so it reads as unknown from then on, and it expires with it.
   */
  private rotationStatement({
    claim,
    successor,
    next,
    sessionData,
    completedAt,
  }: Rotation): Statement {
    const { tokens, sessions } = this.t;
    const { key, integer, text } = this.dialect.types;
    // INSERT … SELECT types its parameters from the SELECT, not from the columns.
    const added = `CAST(? AS ${key}), CAST(? AS ${key}), CAST(? AS ${integer}), CAST(? AS ${integer}), CAST(? AS ${text})`;
    return {
      text:
        `WITH claimed AS (UPDATE ${tokens} SET successor = ?, consumed_at = ? ` +
        `WHERE hash = ? AND consumed_at = ? AND successor IS NULL AND session_id = ? ` +
        `AND EXISTS (SELECT 1 FROM ${sessions} WHERE id = ?) RETURNING hash), ` +
        `renewed AS (UPDATE ${sessions} SET data = ? ` +
        `WHERE id = ? AND EXISTS (SELECT 1 FROM claimed) RETURNING id), ` +
        `pruned AS (DELETE FROM ${tokens} ` +
        `WHERE session_id = ? AND hash <> ? AND EXISTS (SELECT 1 FROM renewed)), ` +
        `added AS (INSERT INTO ${tokens} (${TOKEN_COLUMNS}) ` +
        `SELECT ${added} WHERE EXISTS (SELECT 1 FROM renewed)) ` +
        `SELECT (SELECT count(*) FROM claimed) AS claimed, (SELECT count(*) FROM renewed) AS renewed`,
      params: [
        ...[successor, completedAt, claim.hash, claim.claimedAt, next.sessionId, next.sessionId],
        ...[sessionData, next.sessionId],
        ...[next.sessionId, claim.hash],
        ...tokenValues(next),
      ],
    };
  }

  async getRefreshToken(hash: string): Promise<RefreshTokenRecord | null> {
    return this.selectOne(
      `SELECT ${TOKEN_COLUMNS} FROM ${this.t.tokens} WHERE hash = ? AND expires_at > ?`,
      [hash, nowSeconds()],
      toToken,
    );
  }

  async savePeerJwks(issuer: string, jwks: string, fetchedAt: number): Promise<void> {
    await (await this.db()).run({
      text:
        `INSERT INTO ${this.t.peers} (issuer, jwks, fetched_at) VALUES (?, ?, ?)` +
        this.dialect.upsertSuffix("issuer", ["jwks", "fetched_at"]),
      params: [issuer, jwks, fetchedAt],
    });
  }

  async loadPeerJwks(issuer: string): Promise<{ jwks: string; fetchedAt: number } | null> {
    return this.selectOne(
      `SELECT jwks, fetched_at FROM ${this.t.peers} WHERE issuer = ?`,
      [issuer],
      (row) => ({ jwks: asText(row.jwks), fetchedAt: asNumber(row.fetched_at) }),
    );
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const db = await this.db();
    // An expired record that purge has not removed yet must not block the id.
    await db.run({
      text: `DELETE FROM ${this.t.usedIds} WHERE id = ? AND expires_at <= ?`,
      params: [id, nowSeconds()],
    });
    const { insertIfAbsentKeyword: insert, insertIfAbsentSuffix: suffix } = this.dialect;
    const inserted = await db.run({
      text: `${insert} INTO ${this.t.usedIds} (id, expires_at) VALUES (?, ?)${suffix("id")}`,
      params: [id, expiresAt],
    });
    return inserted.changes === 1;
  }

  async purgeExpired(now: number): Promise<void> {
    const db = await this.db();
    const { sessions, owners, tokens, usedIds } = this.t;
    await db.run({ text: `DELETE FROM ${sessions} WHERE expires_at <= ?`, params: [now] });
    await db.run({
      text:
        `DELETE FROM ${owners} WHERE expires_at <= ? ` +
        `OR NOT EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions}.id = ${owners}.session_id)`,
      params: [now],
    });
    await db.run({
      text:
        `DELETE FROM ${tokens} WHERE expires_at <= ? ` +
        `OR NOT EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions}.id = ${tokens}.session_id)`,
      params: [now],
    });
    await db.run({ text: `DELETE FROM ${usedIds} WHERE expires_at <= ?`, params: [now] });
  }

  /**
   * Instant revocation's deny-list (docs/broker.md "Instant revocation") lives in
   * the used-ids table, which already keeps ids with an expiry and is
   * purged with it, under its own prefix: no schema change.
   */
  async denySessions(ids: readonly string[], expiresAt: number): Promise<void> {
    if (ids.length === 0) return;
    const db = await this.db();
    const upsert = this.dialect.upsertSuffix("id", ["expires_at"]);
    for (const id of ids) {
      await db.run({
        text: `INSERT INTO ${this.t.usedIds} (id, expires_at) VALUES (?, ?)${upsert}`,
        params: [deniedSessionKey(id), expiresAt],
      });
    }
  }

  async isSessionDenied(id: string): Promise<boolean> {
    const found = await this.selectOne(
      `SELECT 1 AS denied FROM ${this.t.usedIds} WHERE id = ? AND expires_at > ?`,
      [deniedSessionKey(id), nowSeconds()],
      () => true,
    );
    return found === true;
  }

  async sessionIdsOf(who: { subject?: string; idpSid?: string }): Promise<string[]> {
    const { subject, idpSid } = who;
    if (subject === undefined && idpSid === undefined) return [];
    const [where, params]: [string, SqlValue[]] =
      subject === undefined
        ? ["o.idp_sid = ?", [idpSid ?? ""]]
        : idpSid === undefined
          ? ["o.subject = ?", [subject]]
          : ["o.subject = ? AND (o.idp_sid = ? OR o.idp_sid IS NULL)", [subject, idpSid]];
    const { rows } = await (await this.db()).run({
      text:
        `SELECT o.session_id FROM ${this.t.owners} o JOIN ${this.t.sessions} s ` +
        `ON s.id = o.session_id WHERE ${where} AND s.expires_at > ?`,
      params: [...params, nowSeconds()],
    });
    return rows.map((row) => asText(row.session_id));
  }
}

/** The deny-list's ids in the used-ids table, apart from login states and logout tokens. */
function deniedSessionKey(sessionId: string): string {
  return `denied-session.${sessionId}`;
}
