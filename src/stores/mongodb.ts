/**
 * MongoDB through the official driver. Sessions, refresh tokens and
 * used-once ids carry an `expireAt` Date under a TTL index, so the server
 * deletes them by itself (its TTL monitor runs about once a minute; reads
 * check expiry themselves). The claim of a refresh token is one
 * findOneAndUpdate on `consumedAt: null`; unique indexes keep one signing
 * key per slot and one record per id.
 *
 * completeRotation is not a multi-document transaction (that would need a
 * replica set): it checks the claim, replaces the session data, inserts the
 * next token and only then records the successor, so anyone polling for the
 * successor finds everything it points to already written. A crash midway
 * leaves at most an unused next token, which expires.
 */
import type { Collection, Db, Document, Filter, MongoClient } from "mongodb";
import { importPeer } from "../core/peer.ts";
import {
  checkNamePrefix,
  DEFAULT_NAME_PREFIX,
  DEFAULT_STORE_TIMEOUT_MS,
  isLive,
  Lazy,
  nowSeconds,
  ROTATION_NOT_CLAIMED,
  ROTATION_SESSION_GONE,
  RotationConflictError,
  requireOneOf,
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

export interface MongoDBBrokerStoreOptions {
  /** An existing database handle; the store never closes its client. */
  db?: Db;
  /** A `mongodb://` or `mongodb+srv://` URL; the store opens (and closes) its own client. */
  url?: string;
  /** Database to use with `url`. Default: the one named in the URL, else `ts_oidc_auth`. */
  dbName?: string;
  /** Prefix of every collection name. Default `oidc_broker_`. */
  collectionPrefix?: string;
  /** Server selection, connection and socket timeout of the client the store opens, in ms. Default 5000. */
  timeoutMs?: number;
}

/** What the TTL index watches. */
interface Expiring {
  expireAt: Date;
}

interface Collections {
  signingKeys: Collection<SigningKeyRecord>;
  sessions: Collection<SessionRecord & Expiring>;
  tokens: Collection<RefreshTokenRecord & Expiring>;
  peers: Collection<{ issuer: string; jwks: string; fetchedAt: number }>;
  usedIds: Collection<{ key: string; expiresAt: number } & Expiring>;
}

interface Connection {
  collections: Collections;
  /** Set when the store opened the client and so must close it. */
  ownClient?: MongoClient;
}

/** Leaves out MongoDB's `_id` and the TTL field when reading records back. */
const RECORD_ONLY = { projection: { _id: 0, expireAt: 0 } } as const;

function expireAt(expiresAt: number): Date {
  return new Date(expiresAt * 1000);
}

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 11000;
}

/** The database named in a MongoDB URL's path, if any. */
export function databaseFromUrl(url: string): string | undefined {
  const name = /^[^:]+:\/\/[^/?]*\/([^?]+)/.exec(url)?.[1];
  return name ? decodeURIComponent(name) : undefined;
}

export class MongoDBBrokerStore implements BrokerStore {
  private readonly prefix: string;
  private readonly connection = new Lazy(() => this.connect());
  private readonly indexes = new Lazy(() => this.createIndexes());

  constructor(private readonly options: MongoDBBrokerStoreOptions) {
    requireOneOf("MongoDBBrokerStore", { db: options.db, url: options.url });
    this.prefix = checkNamePrefix(
      options.collectionPrefix ?? DEFAULT_NAME_PREFIX,
      "collectionPrefix",
    );
  }

  private async collections(): Promise<Collections> {
    return (await this.connection.get()).collections;
  }

  private async connect(): Promise<Connection> {
    if (this.options.db) return { collections: this.collectionsOf(this.options.db) };
    const url = this.options.url ?? "";
    const { MongoClient } = await importPeer(
      "mongodb",
      "The MongoDB broker store",
      () => import("mongodb"),
    );
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    // The driver's defaults wait 30 s for a server and forever on a socket.
    const client = new MongoClient(url, {
      serverSelectionTimeoutMS: timeoutMs,
      connectTimeoutMS: timeoutMs,
      socketTimeoutMS: timeoutMs,
    });
    try {
      await client.connect();
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    const db = client.db(this.options.dbName ?? databaseFromUrl(url) ?? "ts_oidc_auth");
    return { collections: this.collectionsOf(db), ownClient: client };
  }

  private collectionsOf(db: Db): Collections {
    const name = (suffix: string) => `${this.prefix}${suffix}`;
    return {
      signingKeys: db.collection(name("signing_keys")),
      sessions: db.collection(name("sessions")),
      tokens: db.collection(name("refresh_tokens")),
      peers: db.collection(name("peer_jwks")),
      usedIds: db.collection(name("used_ids")),
    };
  }

  init(): Promise<void> {
    return this.indexes.get();
  }

  /** createIndexes with an identical specification is a no-op, also when processes race. */
  private async createIndexes(): Promise<void> {
    const c = await this.collections();
    const ttl = { key: { expireAt: 1 }, name: "expireAt_ttl", expireAfterSeconds: 0 };
    await Promise.all([
      c.signingKeys.createIndexes([{ key: { slot: 1 }, name: "slot_unique", unique: true }]),
      c.sessions.createIndexes([
        { key: { id: 1 }, name: "id_unique", unique: true },
        // For back-channel logout (revokeSessionsOf).
        { key: { subject: 1 }, name: "subject" },
        { key: { idpSid: 1 }, name: "idpSid", sparse: true },
        ttl,
      ]),
      c.tokens.createIndexes([
        { key: { hash: 1 }, name: "hash_unique", unique: true },
        { key: { sessionId: 1 }, name: "sessionId" },
        ttl,
      ]),
      c.peers.createIndexes([{ key: { issuer: 1 }, name: "issuer_unique", unique: true }]),
      c.usedIds.createIndexes([{ key: { key: 1 }, name: "key_unique", unique: true }, ttl]),
    ]);
  }

  async close(): Promise<void> {
    this.indexes.take();
    const connection = this.connection.take();
    const client = connection && (await connection).ownClient;
    if (client) await client.close();
  }

  async putSigningKeyIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    const { signingKeys } = await this.collections();
    const { slot, ...rest } = key;
    await ignoreDuplicateKey(
      signingKeys.updateOne({ slot }, { $setOnInsert: rest }, { upsert: true }),
    );
    const winner = await signingKeys.findOne({ slot }, RECORD_ONLY);
    if (!winner) throw new Error(`signing key slot ${slot} vanished after insert`);
    return winner;
  }

  async listSigningKeys(limit: number): Promise<SigningKeyRecord[]> {
    if (limit <= 0) return [];
    const { signingKeys } = await this.collections();
    return signingKeys.find({}, RECORD_ONLY).sort({ slot: -1 }).limit(Math.floor(limit)).toArray();
  }

  async createSession(session: SessionRecord, firstToken: RefreshTokenRecord): Promise<void> {
    const { sessions, tokens } = await this.collections();
    await sessions.insertOne({ ...session, expireAt: expireAt(session.expiresAt) });
    await tokens.insertOne({ ...firstToken, expireAt: expireAt(firstToken.expiresAt) });
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const { sessions } = await this.collections();
    return sessions.findOne({ id, expiresAt: { $gt: nowSeconds() } }, RECORD_ONLY);
  }

  async revokeSession(id: string): Promise<void> {
    const { sessions, tokens } = await this.collections();
    // Session first: from then on every token of it consumes as "unknown".
    await sessions.deleteOne({ id });
    await tokens.deleteMany({ sessionId: id });
  }

  async revokeSessionsOf(who: { subject?: string; idpSid?: string }): Promise<number> {
    const { subject, idpSid } = who;
    const filter: Filter<SessionRecord & Expiring> =
      subject === undefined
        ? { idpSid }
        : idpSid === undefined
          ? { subject }
          : { subject, $or: [{ idpSid }, { idpSid: { $exists: false } }] };
    if (subject === undefined && idpSid === undefined) return 0;
    const { sessions, tokens } = await this.collections();
    const found = await sessions.find(filter, { projection: { id: 1 } }).toArray();
    const ids = found.map((session) => session.id);
    if (ids.length === 0) return 0;
    // Sessions first, as in revokeSession: from then on their tokens consume as "unknown".
    await sessions.deleteMany({ id: { $in: ids } });
    await tokens.deleteMany({ sessionId: { $in: ids } });
    return ids.length;
  }

  async consumeRefreshToken(hash: string, now: number): Promise<ConsumeResult> {
    return this.claim({ hash, consumedAt: null }, now);
  }

  async reclaimRefreshToken(claim: RefreshClaim, now: number): Promise<ConsumeResult> {
    return this.claim(claimFilter(claim), now);
  }

  private async claim(filter: Filter<RefreshTokenRecord>, now: number): Promise<ConsumeResult> {
    const { sessions, tokens } = await this.collections();
    const claimed = await tokens.findOneAndUpdate(
      { ...filter, expiresAt: { $gt: now } },
      { $set: { consumedAt: now } },
      { ...RECORD_ONLY, returnDocument: "after" },
    );
    const token = claimed ?? (await tokens.findOne({ hash: filter.hash }, RECORD_ONLY));
    const session = token && (await sessions.findOne({ id: token.sessionId }, RECORD_ONLY));
    if (claimed && session && isLive(session, now)) {
      return { status: "claimed", token: claimed, session };
    }
    // A claim on a dead session is worthless either way, so it is not undone.
    return claimed ? { status: "unknown" } : unclaimedResult(token, session, now);
  }

  async releaseRefreshToken(claim: RefreshClaim): Promise<void> {
    const { tokens } = await this.collections();
    await tokens.updateOne(claimFilter(claim), { $set: { consumedAt: null } });
  }

  async completeRotation({
    claim,
    successor,
    next,
    sessionData,
    completedAt,
  }: Rotation): Promise<void> {
    const { sessions, tokens } = await this.collections();
    const pending = claimFilter(claim);
    if (!(await tokens.findOne(pending))) throw new RotationConflictError(ROTATION_NOT_CLAIMED);
    const updated = await sessions.updateOne(
      { id: next.sessionId },
      { $set: { data: sessionData } },
    );
    if (updated.matchedCount === 0) throw new RotationConflictError(ROTATION_SESSION_GONE);
    await tokens.insertOne({ ...next, expireAt: expireAt(next.expiresAt) });
    const recorded = await tokens.updateOne(pending, {
      $set: { successor, consumedAt: completedAt },
    });
    if (recorded.matchedCount === 0) throw new RotationConflictError(ROTATION_NOT_CLAIMED);
    // Older rotations (BrokerStore.completeRotation keeps two per session).
    await tokens.deleteMany({ sessionId: next.sessionId, hash: { $nin: [claim.hash, next.hash] } });
  }

  async getRefreshToken(hash: string): Promise<RefreshTokenRecord | null> {
    const { tokens } = await this.collections();
    return tokens.findOne({ hash, expiresAt: { $gt: nowSeconds() } }, RECORD_ONLY);
  }

  async savePeerJwks(issuer: string, jwks: string, fetchedAt: number): Promise<void> {
    const { peers } = await this.collections();
    const save = () => peers.updateOne({ issuer }, { $set: { jwks, fetchedAt } }, { upsert: true });
    // Two first saves can race to insert; the loser's retry then updates.
    await save().catch((error: unknown) => {
      if (isDuplicateKey(error)) return save();
      throw error;
    });
  }

  async loadPeerJwks(issuer: string): Promise<{ jwks: string; fetchedAt: number } | null> {
    const { peers } = await this.collections();
    const peer = await peers.findOne({ issuer });
    return peer ? { jwks: peer.jwks, fetchedAt: peer.fetchedAt } : null;
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const { usedIds } = await this.collections();
    // An expired record the TTL monitor has not removed yet must not block the id.
    await usedIds.deleteOne({ key: id, expiresAt: { $lte: nowSeconds() } });
    const result = await ignoreDuplicateKey(
      usedIds.updateOne(
        { key: id },
        { $setOnInsert: { expiresAt, expireAt: expireAt(expiresAt) } },
        { upsert: true },
      ),
    );
    return result?.upsertedCount === 1;
  }

  /** Removes now what the TTL monitor would remove within a minute or so. */
  async purgeExpired(now: number): Promise<void> {
    const { sessions, tokens, usedIds } = await this.collections();
    const expired = await sessions.find({ expiresAt: { $lte: now } }, { projection: { id: 1 } });
    const expiredIds = (await expired.toArray()).map((session) => session.id);
    await tokens.deleteMany({
      $or: [{ expiresAt: { $lte: now } }, { sessionId: { $in: expiredIds } }],
    });
    await sessions.deleteMany({ id: { $in: expiredIds } });
    await usedIds.deleteMany({ expiresAt: { $lte: now } });
  }

  /** Instant revocation's deny-list, in the used-ids collection (TTL-expired) under its own prefix. */
  async denySessions(ids: readonly string[], expiresAt: number): Promise<void> {
    if (ids.length === 0) return;
    const { usedIds } = await this.collections();
    await usedIds.bulkWrite(
      ids.map((id) => ({
        updateOne: {
          filter: { key: deniedSessionKey(id) },
          update: { $set: { expiresAt, expireAt: expireAt(expiresAt) } },
          upsert: true,
        },
      })),
    );
  }

  async isSessionDenied(id: string): Promise<boolean> {
    const { usedIds } = await this.collections();
    const found = await usedIds.findOne(
      { key: deniedSessionKey(id), expiresAt: { $gt: nowSeconds() } },
      { projection: { _id: 1 } },
    );
    return found !== null;
  }

  async sessionIdsOf(who: { subject?: string; idpSid?: string }): Promise<string[]> {
    const { subject, idpSid } = who;
    if (subject === undefined && idpSid === undefined) return [];
    const filter: Filter<SessionRecord & Expiring> =
      subject === undefined
        ? { idpSid }
        : idpSid === undefined
          ? { subject }
          : { subject, $or: [{ idpSid }, { idpSid: { $exists: false } }] };
    const { sessions } = await this.collections();
    const found = await sessions
      .find({ ...filter, expiresAt: { $gt: nowSeconds() } }, { projection: { id: 1 } })
      .toArray();
    return found.map((session) => session.id);
  }
}

/** A unique-index violation means another writer got there first: not an error here. */
async function ignoreDuplicateKey<T extends Document>(operation: Promise<T>): Promise<T | null> {
  try {
    return await operation;
  } catch (error) {
    if (isDuplicateKey(error)) return null;
    throw error;
  }
}

/** The holder's claim on a token: claimed at that time and not completed. */
function claimFilter(claim: RefreshClaim): Filter<RefreshTokenRecord> {
  return { hash: claim.hash, consumedAt: claim.claimedAt, successor: null };
}

/** The deny-list's keys in the used-ids collection, apart from login states and logout tokens. */
function deniedSessionKey(sessionId: string): string {
  return `denied-session.${sessionId}`;
}
