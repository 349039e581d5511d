/**
 * Redis through ioredis. Sessions, refresh tokens and used-once ids carry
 * native expiry (PEXPIREAT), so nothing needs purging; a token expires no
 * later than its session. Every operation that
 * reads and then writes runs as one Lua script, which Redis executes
 * atomically.
 *
 * Key layout under the prefix (default `oidc_broker:`):
 * `signing-keys` (sorted set of slots), `signing-key:<slot>` (JSON),
 * `session:<id>` and `token:<hash>` (hashes), `session-tokens:<id>` (set of
 * token hashes, for revocation), `subject-sessions:<sub>` and
 * `sid-sessions:<IdP sid>` (sets of session ids, for back-channel logout;
 * each lives as long as its longest session), `peer:<issuer>` (hash),
 * `once:<id>`.
 * The consume script derives the session key from the token, so on Redis
 * Cluster put a hash tag in the prefix (e.g. `{oidc_broker}:`) to keep all
 * keys in one slot.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { importPeer } from "../core/peer.ts";
import {
  DEFAULT_STORE_TIMEOUT_MS,
  isLive,
  Lazy,
  nowSeconds,
  ROTATION_NOT_CLAIMED,
  ROTATION_SESSION_GONE,
  RotationConflictError,
  requireOneOf,
  sessionMatches,
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

export interface RedisBrokerStoreOptions {
  /** A `redis://` or `rediss://` URL; the store opens (and closes) its own client. */
  url?: string;
  /** An existing client to use instead; the store never closes it. */
  client?: Redis;
  /** Prefix of every key. Default `oidc_broker:`. */
  keyPrefix?: string;
  /** Connect and command timeout of the client the store opens, in ms. Default 5000. */
  timeoutMs?: number;
}

class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}

const PUT_KEY_IF_ABSENT = new LuaScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
end
return redis.call('GET', KEYS[1])`);

/**
 * ARGV: now, session prefix, and the claim time to take over ('' to claim a
 * live token). Returns nil for an unknown token, else {claimed (0/1), token
 * fields..., session fields...}.
 */
const CONSUME = new LuaScript(`
local now = tonumber(ARGV[1])
local t = redis.call('HMGET', KEYS[1], 'session', 'expires', 'consumed', 'successor')
if not t[1] or tonumber(t[2]) <= now then return false end
local s = redis.call('HMGET', ARGV[2] .. t[1], 'subject', 'data', 'created', 'expires')
if not s[1] or tonumber(s[4]) <= now then return false end
local claimable
if ARGV[3] == '' then claimable = not t[3] else claimable = t[3] == ARGV[3] and not t[4] end
local claimed = 0
if claimable then
  redis.call('HSET', KEYS[1], 'consumed', ARGV[1])
  t[3] = ARGV[1]
  claimed = 1
end
return {claimed, t[1], t[2], t[3], t[4], s[1], s[2], s[3], s[4]}`);

/** ARGV: the claim time. Only the holder's claim is undone. */
const RELEASE = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], 'successor') == 0 and redis.call('HGET', KEYS[1], 'consumed') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'consumed')
end`);

/**
 * KEYS: consumed token, next token, session, session-tokens.
 * ARGV: successor, data, next hash, next expiry (ms), claim time, completion
 * time, token prefix, consumed hash, next token fields...
 */
const COMPLETE_ROTATION = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], 'successor') == 1 or redis.call('HGET', KEYS[1], 'consumed') ~= ARGV[5] then
  return 'not-claimed'
end
if redis.call('EXISTS', KEYS[3]) == 0 then return 'session-gone' end
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if hash ~= ARGV[8] then
    redis.call('DEL', ARGV[7] .. hash)
    redis.call('SREM', KEYS[4], hash)
  end
end
redis.call('HSET', KEYS[1], 'successor', ARGV[1], 'consumed', ARGV[6])
redis.call('HSET', KEYS[3], 'data', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 9))
local sessionEnd = tonumber(redis.call('HGET', KEYS[3], 'expires')) * 1000
redis.call('PEXPIREAT', KEYS[2], math.min(tonumber(ARGV[4]), sessionEnd))
redis.call('SADD', KEYS[4], ARGV[3])
return 'ok'`);

/** KEYS: session, session-tokens. ARGV: token prefix, subject-sessions prefix, sid-sessions prefix, session id. */
const REVOKE = new LuaScript(`
local s = redis.call('HMGET', KEYS[1], 'subject', 'idpSid')
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', ARGV[1] .. hash)
end
redis.call('DEL', KEYS[1], KEYS[2])
if s[1] then redis.call('SREM', ARGV[2] .. s[1], ARGV[4]) end
if s[2] then redis.call('SREM', ARGV[3] .. s[2], ARGV[4]) end`);

/** KEYS: an index set. ARGV: session id, expiry (ms), now (ms). Adds the id; the set lives as long as its longest session. */
const INDEX_SESSION = new LuaScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local wanted = tonumber(ARGV[2]) - tonumber(ARGV[3])
if ttl >= 0 and ttl < wanted or ttl == -1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end`);

/**
 * KEYS: the index set to read (the subject's, else the IdP sid's).
 * ARGV: prefixes of session, session-tokens, token, subject-sessions and
 * sid-sessions keys; the subject and the IdP sid ('' when not given).
 * Deletes the matching sessions (BrokerStore.revokeSessionsOf) and returns how many.
 */
const REVOKE_OF = new LuaScript(`
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local s = redis.call('HMGET', ARGV[1] .. id, 'subject', 'idpSid')
  local match = false
  if not s[1] then
    redis.call('SREM', KEYS[1], id)
  elseif ARGV[6] == '' then
    match = s[2] == ARGV[7]
  elseif s[1] == ARGV[6] then
    match = ARGV[7] == '' or not s[2] or s[2] == ARGV[7]
  end
  if match then
    for _, hash in ipairs(redis.call('SMEMBERS', ARGV[2] .. id)) do
      redis.call('DEL', ARGV[3] .. hash)
    end
    redis.call('DEL', ARGV[1] .. id, ARGV[2] .. id)
    redis.call('SREM', ARGV[4] .. s[1], id)
    if s[2] then redis.call('SREM', ARGV[5] .. s[2], id) end
    count = count + 1
  end
end
return count`);

type Reply = string | null;

/** Flattens a script's array reply into strings (numbers included) and nulls. */
function replyFields(reply: unknown): Reply[] | null {
  if (!Array.isArray(reply)) return null;
  return reply.map((value: unknown) =>
    typeof value === "string" || typeof value === "number" ? String(value) : null,
  );
}

function tokenFields(token: RefreshTokenRecord): string[] {
  const fields = ["session", token.sessionId, "expires", String(token.expiresAt)];
  if (token.consumedAt !== null) fields.push("consumed", String(token.consumedAt));
  if (token.successor !== null) fields.push("successor", token.successor);
  return fields;
}

function toToken(hash: string, fields: Record<string, string>): RefreshTokenRecord | null {
  if (fields.session === undefined || fields.expires === undefined) return null;
  return {
    hash,
    sessionId: fields.session,
    expiresAt: Number(fields.expires),
    consumedAt: fields.consumed === undefined ? null : Number(fields.consumed),
    successor: fields.successor ?? null,
  };
}

function toSession(id: string, fields: Record<string, string>): SessionRecord | null {
  const { subject, idpSid, data, created, expires } = fields;
  if (subject === undefined || data === undefined || created === undefined) return null;
  return {
    id,
    subject,
    ...(idpSid === undefined ? {} : { idpSid }),
    data,
    createdAt: Number(created),
    expiresAt: Number(expires),
  };
}

function parseSigningKey(json: string): SigningKeyRecord {
  const value: unknown = JSON.parse(json);
  if (typeof value !== "object" || value === null) throw new Error("corrupt signing key in Redis");
  const { slot, kid, alg, publicJwk, privateJwk, createdAt } = value as Record<string, unknown>;
  if (
    typeof slot !== "number" ||
    typeof kid !== "string" ||
    typeof alg !== "string" ||
    typeof publicJwk !== "string" ||
    typeof privateJwk !== "string" ||
    typeof createdAt !== "number"
  ) {
    throw new Error("corrupt signing key in Redis");
  }
  return { slot, kid, alg, publicJwk, privateJwk, createdAt };
}

export class RedisBrokerStore implements BrokerStore {
  private readonly prefix: string;
  private readonly client = new Lazy(() => this.connect());

  constructor(private readonly options: RedisBrokerStoreOptions) {
    requireOneOf("RedisBrokerStore", { url: options.url, client: options.client });
    this.prefix = options.keyPrefix ?? "oidc_broker:";
  }

  /** The client, or at once the reason it cannot be used: no request waits for a reconnect. */
  private async redis(): Promise<Redis> {
    const client = await this.client.get();
    if (client.status === "ready" || this.options.client) return client;
    throw this.unavailable(client);
  }

  private async connect(): Promise<Redis> {
    if (this.options.client) return this.options.client;
    const { Redis } = await importPeer(
      "ioredis",
      "The Redis broker store",
      () => import("ioredis"),
    );
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    const client = new Redis(this.options.url ?? "", {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // Commands fail while the connection is down instead of queueing for
      // the whole outage; a command in flight when it drops is not resent
      // (a claim must not be applied twice).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnects in the background, at most a second apart, so the store is back soon after the server.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    // Without a listener, ioredis prints every failed reconnect as an
    // "Unhandled error event"; the broker reports the outage once, from the failing call.
    client.on("error", (error: Error) => {
      this.lastError = error;
    });
    try {
      await client.connect();
    } catch {
      client.disconnect();
      throw this.unavailable(client);
    }
    return client;
  }

  private lastError: Error | undefined;

  /** An error with the client's own words for the connection problem (e.g. `connect ECONNREFUSED 127.0.0.1:6379`). */
  private unavailable(client: Redis): Error {
    const cause = this.lastError;
    const error = new Error(
      `Redis is not connected (${client.status}): ${cause?.message ?? "no reply"}`,
      {
        cause,
      },
    );
    return Object.assign(error, {
      code: (cause as { code?: unknown } | undefined)?.code ?? "ENOTCONN",
    });
  }

  private key(kind: string, id: string | number = ""): string {
    return `${this.prefix}${kind}${id === "" ? "" : `:${id}`}`;
  }

  /** Key prefix as the server sees it: scripts build some key names themselves. */
  private serverPrefix(client: Redis, kind: string): string {
    return `${client.options.keyPrefix ?? ""}${this.key(kind)}:`;
  }

  private async run(
    script: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const client = await this.redis();
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
      return client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  /** Nothing to create; checks that the server answers. */
  async init(): Promise<void> {
    await (await this.redis()).ping();
  }

  async close(): Promise<void> {
    const taken = this.client.take();
    if (!taken || this.options.client) return;
    const client = await taken.catch(() => undefined);
    if (client === undefined) return;
    // QUIT needs an answer; a client that is not connected just stops reconnecting.
    if (client.status === "ready") await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }

  async putSigningKeyIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    const winner = await this.run(
      PUT_KEY_IF_ABSENT,
      [this.key("signing-key", key.slot), this.key("signing-keys")],
      [JSON.stringify(key), key.slot],
    );
    if (typeof winner !== "string") throw new Error(`signing key slot ${key.slot} vanished`);
    return parseSigningKey(winner);
  }

  async listSigningKeys(limit: number): Promise<SigningKeyRecord[]> {
    if (limit <= 0) return [];
    const client = await this.redis();
    const slots = await client.zrevrange(this.key("signing-keys"), 0, Math.floor(limit) - 1);
    if (slots.length === 0) return [];
    const values = await client.mget(slots.map((slot) => this.key("signing-key", slot)));
    return values.filter((value) => value !== null).map(parseSigningKey);
  }

  async createSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void> {
    const client = await this.redis();
    const sessionKey = this.key("session", session.id);
    const tokenKey = this.key("token", firstToken.hash);
    const setKey = this.key("session-tokens", session.id);
    const sessionExpiry = session.expiresAt * 1000;
    const index = (set: string) =>
      [INDEX_SESSION.source, 1, set, session.id, sessionExpiry, Date.now()] as const;
    const transaction = client
      .multi()
      .hset(sessionKey, {
        subject: session.subject,
        ...(session.idpSid === undefined ? {} : { idpSid: session.idpSid }),
        data: session.data,
        created: String(session.createdAt),
        expires: String(session.expiresAt),
      })
      .pexpireat(sessionKey, sessionExpiry)
      .hset(tokenKey, ...tokenFields(firstToken))
      .pexpireat(tokenKey, Math.min(firstToken.expiresAt * 1000, sessionExpiry))
      .sadd(setKey, firstToken.hash)
      .pexpireat(setKey, sessionExpiry)
      .eval(...index(this.key("subject-sessions", session.subject)));
    if (session.idpSid !== undefined) {
      transaction.eval(...index(this.key("sid-sessions", session.idpSid)));
    }
    const results = await transaction.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0];
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const fields = await (await this.redis()).hgetall(this.key("session", id));
    const session = toSession(id, fields);
    return session && isLive(session, nowSeconds()) ? session : null;
  }

  async revokeSession(id: string): Promise<void> {
    const client = await this.redis();
    await this.run(
      REVOKE,
      [this.key("session", id), this.key("session-tokens", id)],
      [
        this.serverPrefix(client, "token"),
        this.serverPrefix(client, "subject-sessions"),
        this.serverPrefix(client, "sid-sessions"),
        id,
      ],
    );
  }

  async revokeSessionsOf(who: { subject?: string; idpSid?: string }): Promise<number> {
    const { subject, idpSid } = who;
    if (subject === undefined && idpSid === undefined) return 0;
    const client = await this.redis();
    const index =
      subject === undefined
        ? this.key("sid-sessions", idpSid)
        : this.key("subject-sessions", subject);
    const count = await this.run(
      REVOKE_OF,
      [index],
      [
        ...["session", "session-tokens", "token", "subject-sessions", "sid-sessions"].map((kind) =>
          this.serverPrefix(client, kind),
        ),
        subject ?? "",
        idpSid ?? "",
      ],
    );
    return Number(count);
  }

  async consumeRefreshToken(hash: string, now: number): Promise<ConsumeResult> {
    return this.claim(hash, now, "");
  }

  async reclaimRefreshToken(claim: RefreshClaim, now: number): Promise<ConsumeResult> {
    return this.claim(claim.hash, now, String(claim.claimedAt));
  }

  private async claim(hash: string, now: number, takeOver: string): Promise<ConsumeResult> {
    const client = await this.redis();
    const reply = replyFields(
      await this.run(
        CONSUME,
        [this.key("token", hash)],
        [now, this.serverPrefix(client, "session"), takeOver],
      ),
    );
    if (!reply) return { status: "unknown" };
    const [claimed, sessionId, expires, consumed, successor, subject, data, created, sExpires] =
      reply;
    const token: RefreshTokenRecord = {
      hash,
      sessionId: sessionId ?? "",
      expiresAt: Number(expires),
      consumedAt: typeof consumed === "string" ? Number(consumed) : null,
      successor: successor ?? null,
    };
    // The script answers nil for unknown, expired or orphaned tokens, so unclaimed means consumed.
    if (claimed !== "1") return { status: "already-consumed", token };
    const session: SessionRecord = {
      id: token.sessionId,
      subject: subject ?? "",
      data: data ?? "",
      createdAt: Number(created),
      expiresAt: Number(sExpires),
    };
    return { status: "claimed", token, session };
  }

  async releaseRefreshToken(claim: RefreshClaim): Promise<void> {
    await this.run(RELEASE, [this.key("token", claim.hash)], [claim.claimedAt]);
  }

  async completeRotation({
    claim,
    successor,
    next,
    sessionData,
    completedAt,
  }: Rotation): Promise<void> {
    const client = await this.redis();
    const outcome = await this.run(
      COMPLETE_ROTATION,
      [
        this.key("token", claim.hash),
        this.key("token", next.hash),
        this.key("session", next.sessionId),
        this.key("session-tokens", next.sessionId),
      ],
      [
        successor,
        sessionData,
        next.hash,
        next.expiresAt * 1000,
        claim.claimedAt,
        completedAt,
        this.serverPrefix(client, "token"),
        claim.hash,
        ...tokenFields(next),
      ],
    );
    if (outcome === "not-claimed") throw new RotationConflictError(ROTATION_NOT_CLAIMED);
    if (outcome === "session-gone") throw new RotationConflictError(ROTATION_SESSION_GONE);
  }

  async getRefreshToken(hash: string): Promise<RefreshTokenRecord | null> {
    const fields = await (await this.redis()).hgetall(this.key("token", hash));
    const token = toToken(hash, fields);
    return token && isLive(token, nowSeconds()) ? token : null;
  }

  async savePeerJwks(issuer: string, jwks: string, fetchedAt: number): Promise<void> {
    await (await this.redis()).hset(this.key("peer", issuer), {
      jwks,
      fetchedAt: String(fetchedAt),
    });
  }

  async loadPeerJwks(issuer: string): Promise<{ jwks: string; fetchedAt: number } | null> {
    const [jwks, fetchedAt] = await (await this.redis()).hmget(
      this.key("peer", issuer),
      "jwks",
      "fetchedAt",
    );
    return jwks != null && fetchedAt != null ? { jwks, fetchedAt: Number(fetchedAt) } : null;
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const ttlMs = expiresAt * 1000 - Date.now();
    // Already expired: there is nothing to remember.
    if (ttlMs <= 0) return true;
    const set = await (await this.redis()).set(this.key("once", id), "1", "PX", ttlMs, "NX");
    return set === "OK";
  }

  /** Redis expires sessions, tokens and used-once ids by itself. */
  async purgeExpired(_now: number): Promise<void> {}

  /** Instant revocation's deny-list: one key per session, expiring with Redis's own TTL. */
  async denySessions(ids: readonly string[], expiresAt: number): Promise<void> {
    const ttlMs = expiresAt * 1000 - Date.now();
    if (ids.length === 0 || ttlMs <= 0) return;
    const pipeline = (await this.redis()).pipeline();
    for (const id of ids) pipeline.set(this.key("denied-session", id), "1", "PX", ttlMs);
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  async isSessionDenied(id: string): Promise<boolean> {
    return (await (await this.redis()).exists(this.key("denied-session", id))) === 1;
  }

  /** The index set of the subject (or IdP session), filtered by each session's own fields. */
  async sessionIdsOf(who: { subject?: string; idpSid?: string }): Promise<string[]> {
    const { subject, idpSid } = who;
    if (subject === undefined && idpSid === undefined) return [];
    const client = await this.redis();
    const index =
      subject === undefined
        ? this.key("sid-sessions", idpSid)
        : this.key("subject-sessions", subject);
    const ids = await client.smembers(index);
    const matching: string[] = [];
    for (const id of ids) {
      const [owner, sid] = await client.hmget(this.key("session", id), "subject", "idpSid");
      if (owner === null || owner === undefined) continue;
      const session = { subject: owner, ...(sid === null ? {} : { idpSid: sid }) };
      if (sessionMatches(session, who)) matching.push(id);
    }
    return matching;
  }
}
