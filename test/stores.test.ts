/**
 * One conformance suite, run against every broker store backend, plus the
 * store URL parsing. Server-backed suites use the servers named in
 * test/helpers/services.ts, under names unique to this run, and remove
 * what they created.
 *
 * MongoDB: with MONGODB_URL set, the suite runs against that server.
 * Otherwise it runs against CongoDB (@push.rocks/smartmongo), a
 * MongoDB-wire-compatible server in pure TypeScript that the official
 * driver reaches over a loopback socket. What CongoDB does not reproduce:
 * - unique indexes are recorded but not enforced, so the store's handling of
 *   duplicate-key errors (E11000) under races is not exercised here; its
 *   upserts and findAndModify are still atomic, because each command runs to
 *   completion inside one event loop over in-memory storage;
 * - TTL indexes are accepted but nothing ever deletes expired documents
 *   (the store checks expiry on read and purgeExpired deletes, so the
 *   suite does not depend on the TTL monitor either way);
 * - transactions are accepted but not atomic (the store uses none);
 * - `_id` values must be ObjectIds (the store never sets `_id`);
 * - no authentication, no replica set, no write concern.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { type Db, MongoClient } from "mongodb";
import { createPool, type Pool as MySQLPool } from "mysql2/promise";
import pg from "pg";
import { importPeer } from "../src/core/peer.ts";
import { nowSeconds } from "../src/stores/common.ts";
import {
  type BrokerStore,
  createBrokerStore,
  MemoryBrokerStore,
  MongoDBBrokerStore,
  MySQLBrokerStore,
  PostgresBrokerStore,
  parseStoreUrl,
  RedisBrokerStore,
  type RefreshTokenRecord,
  type Rotation,
  RotationConflictError,
  type SessionRecord,
  type SigningKeyRecord,
  SQLiteBrokerStore,
} from "../src/stores/index.ts";
import {
  describeWithService,
  type MongoWireServer,
  probeMongoDB,
  probeMySQL,
  probePostgres,
  probeRedis,
  runId,
  serviceUrls,
  startMongoWireServer,
  withScheme,
} from "./helpers/services.ts";

const RUN = runId();

/** What the conformance suite needs from a backend. */
interface Harness {
  /** How many store instances race in the concurrency tests (1 where instances share nothing). */
  instances: number;
  /** Opens one more store instance on the namespace's data; instances of a namespace share it. */
  open(namespace: string): Promise<BrokerStore>;
  /** Sessions + refresh tokens + used-once ids physically stored in the namespace. */
  countExpirable(namespace: string): Promise<number>;
  /** A store on a client the test opened itself, to prove close() leaves it open. */
  openOnOwnClient?(namespace: string): Promise<OwnClientStore>;
  /** URL forms that createBrokerStore must open for this backend (with `prefix` = namespace). */
  urlForms: string[];
  /** A prefix valid for createBrokerStore on this backend for the namespace. */
  urlPrefix(namespace: string): string;
  cleanup(): Promise<void>;
}

interface OwnClientStore {
  store: BrokerStore;
  clientWorks(): Promise<boolean>;
  closeClient(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Records

let sequence = 0;
const unique = (label: string) => `${label}-${RUN}-${++sequence}`;

function signingKey(slot: number, kid: string): SigningKeyRecord {
  return {
    slot,
    kid,
    alg: "RS256",
    publicJwk: JSON.stringify({ kty: "RSA", kid, n: "AQAB" }),
    privateJwk: `sealed:${kid}`,
    createdAt: 1_700_000_000 + slot,
  };
}

function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = nowSeconds();
  return {
    id: unique("session"),
    subject: "alice",
    data: JSON.stringify({ idpRefresh: "sealed", name: "Zoë ✓" }),
    createdAt: now,
    expiresAt: now + 3600,
    ...overrides,
  };
}

function refreshToken(
  sessionId: string,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    hash: unique("hash"),
    sessionId,
    expiresAt: nowSeconds() + 600,
    consumedAt: null,
    successor: null,
    ...overrides,
  };
}

/** A rotation of the token claimed at `claimedAt` to `next`. */
function rotation(
  consumedHash: string,
  claimedAt: number,
  next: RefreshTokenRecord,
  sessionData: string,
  completedAt = claimedAt,
): Rotation {
  return {
    claim: { hash: consumedHash, claimedAt },
    successor: "sealed-successor",
    next,
    sessionData,
    completedAt,
  };
}

// ---------------------------------------------------------------------------
// The conformance suite

function conformanceSuite(name: string, unavailable: string | null, setUp: () => Promise<Harness>) {
  describeWithService(name, unavailable, () => {
    let harness: Harness;
    let opened: BrokerStore[] = [];
    let namespaces = 0;

    before(async () => {
      harness = await setUp();
    });
    after(async () => {
      await harness?.cleanup();
    });
    afterEach(async () => {
      await Promise.all(opened.map((store) => store.close()));
      opened = [];
    });

    const nextNamespace = (kind = "n") => `${kind}${++namespaces}`;

    /** Opens `count` instances on a fresh namespace, initialized unless told otherwise. */
    async function stores(
      count: number,
      { init = true, namespace = nextNamespace() } = {},
    ): Promise<BrokerStore[]> {
      const instances: BrokerStore[] = [];
      for (let i = 0; i < count; i++) instances.push(await harness.open(namespace));
      opened.push(...instances);
      if (init) await Promise.all(instances.map((store) => store.init()));
      return instances;
    }

    async function oneStore(): Promise<[BrokerStore, string]> {
      const namespace = nextNamespace();
      const [store] = await stores(1, { namespace });
      assert.ok(store);
      return [store, namespace];
    }

    /** Picks instance i of several, round robin. */
    const pick = (instances: BrokerStore[], i: number) => {
      const store = instances[i % instances.length];
      assert.ok(store);
      return store;
    };

    it("init is idempotent and safe when instances race on an empty database", async () => {
      const instances = await stores(Math.max(harness.instances, 6), { init: false });
      await Promise.all(instances.flatMap((store) => [store.init(), store.init()]));
      await Promise.all(instances.map((store) => store.init()));
      const key = signingKey(1, "k1");
      await pick(instances, 0).putSigningKeyIfAbsent(key);
      assert.deepEqual(await pick(instances, instances.length - 1).listSigningKeys(5), [key]);
    });

    it("keeps one signing key per slot when instances race", async () => {
      const instances = await stores(harness.instances);
      const candidates = Array.from({ length: 12 }, (_, i) => signingKey(42, `kid-${i}`));
      const results = await Promise.all(
        candidates.map((key, i) => pick(instances, i).putSigningKeyIfAbsent(key)),
      );
      const winner = results[0];
      assert.ok(winner);
      assert.ok(candidates.some((key) => key.kid === winner.kid));
      for (const result of results) assert.deepEqual(result, winner);
      assert.deepEqual(await pick(instances, 1).listSigningKeys(10), [winner]);
      const late = await pick(instances, 2).putSigningKeyIfAbsent(signingKey(42, "late"));
      assert.equal(late.kid, winner.kid);
    });

    it("lists signing keys newest slot first, at most `limit`", async () => {
      const [store] = await oneStore();
      for (const slot of [5, 9, 7, 1])
        await store.putSigningKeyIfAbsent(signingKey(slot, `k${slot}`));
      const kids = (keys: SigningKeyRecord[]) => keys.map((key) => key.kid);
      assert.deepEqual(kids(await store.listSigningKeys(3)), ["k9", "k7", "k5"]);
      assert.deepEqual(kids(await store.listSigningKeys(10)), ["k9", "k7", "k5", "k1"]);
      assert.deepEqual(await store.listSigningKeys(0), []);
      assert.deepEqual((await store.listSigningKeys(1))[0], signingKey(9, "k9"));
    });

    it("creates sessions, reads them back exactly and hides expired ones", async () => {
      const [store] = await oneStore();
      const live = session({ data: `${"x".repeat(100_000)}✓` });
      const first = refreshToken(live.id);
      await store.createSession(live, first);
      assert.deepEqual(await store.getSession(live.id), live);
      assert.deepEqual(await store.getRefreshToken(first.hash), first);
      assert.equal(await store.getSession("no-such-session"), null);
      assert.equal(await store.getRefreshToken("no-such-hash"), null);

      const expired = session({ expiresAt: nowSeconds() - 5 });
      await store.createSession(expired, refreshToken(expired.id));
      assert.equal(await store.getSession(expired.id), null);
    });

    it("treats ids and hashes as case-sensitive", async () => {
      const [store] = await oneStore();
      const owner = session();
      const lower = refreshToken(owner.id, { hash: `abc-${RUN}` });
      await store.createSession(owner, lower);
      const upper = session({ id: owner.id.toUpperCase() });
      await store.createSession(upper, refreshToken(upper.id, { hash: `ABC-${RUN}` }));
      assert.equal((await store.getRefreshToken(`ABC-${RUN}`))?.sessionId, upper.id);
      assert.equal((await store.getRefreshToken(`abc-${RUN}`))?.sessionId, owner.id);
      assert.equal((await store.getSession(upper.id))?.id, upper.id);
    });

    it("lets exactly one of 20 concurrent consumers claim a refresh token", async () => {
      const instances = await stores(harness.instances);
      const owner = session();
      const token = refreshToken(owner.id);
      await pick(instances, 0).createSession(owner, token);
      const now = nowSeconds();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          pick(instances, i).consumeRefreshToken(token.hash, now),
        ),
      );
      const claimed = results.filter((result) => result.status === "claimed");
      const consumed = results.filter((result) => result.status === "already-consumed");
      assert.equal(claimed.length, 1);
      assert.equal(consumed.length, 19);
      assert.deepEqual(claimed[0], {
        status: "claimed",
        token: { ...token, consumedAt: now },
        session: owner,
      });
      for (const result of consumed) {
        assert.deepEqual(result, {
          status: "already-consumed",
          token: { ...token, consumedAt: now },
        });
      }
    });

    it("answers unknown for missing or expired tokens and dead sessions", async () => {
      const [store] = await oneStore();
      const now = nowSeconds();
      assert.deepEqual(await store.consumeRefreshToken("no-such-hash", now), { status: "unknown" });

      const owner = session();
      const expiredToken = refreshToken(owner.id, { expiresAt: now - 1 });
      await store.createSession(owner, expiredToken);
      assert.deepEqual(await store.consumeRefreshToken(expiredToken.hash, now), {
        status: "unknown",
      });

      const deadSession = session({ expiresAt: now - 1 });
      const orphan = refreshToken(deadSession.id);
      await store.createSession(deadSession, orphan);
      assert.deepEqual(await store.consumeRefreshToken(orphan.hash, now), { status: "unknown" });
    });

    it("makes a released token claimable again", async () => {
      const [store] = await oneStore();
      const owner = session();
      const token = refreshToken(owner.id);
      await store.createSession(owner, token);
      const now = nowSeconds();
      assert.equal((await store.consumeRefreshToken(token.hash, now)).status, "claimed");
      assert.equal((await store.consumeRefreshToken(token.hash, now)).status, "already-consumed");
      // Only the holder's claim is released.
      await store.releaseRefreshToken({ hash: token.hash, claimedAt: now - 1 });
      assert.equal((await store.getRefreshToken(token.hash))?.consumedAt, now);
      await store.releaseRefreshToken({ hash: token.hash, claimedAt: now });
      assert.deepEqual(await store.getRefreshToken(token.hash), token);
      assert.equal((await store.consumeRefreshToken(token.hash, now + 1)).status, "claimed");
      assert.equal((await store.getRefreshToken(token.hash))?.consumedAt, now + 1);
    });

    it("completes a rotation: successor, next token and session data together", async () => {
      const instances = await stores(Math.min(harness.instances, 2));
      const [store, other] = [pick(instances, 0), pick(instances, 1)];
      const owner = session();
      const first = refreshToken(owner.id);
      await store.createSession(owner, first);
      const now = nowSeconds();
      assert.equal((await store.consumeRefreshToken(first.hash, now)).status, "claimed");
      const next = refreshToken(owner.id);
      await store.completeRotation(rotation(first.hash, now, next, "data-2", now + 1));

      // consumedAt becomes the completion time, from which the grace window counts.
      assert.deepEqual(await other.getRefreshToken(first.hash), {
        ...first,
        consumedAt: now + 1,
        successor: "sealed-successor",
      });
      assert.deepEqual(await other.getRefreshToken(next.hash), next);
      assert.equal((await other.getSession(owner.id))?.data, "data-2");
      assert.deepEqual(await other.consumeRefreshToken(first.hash, now), {
        status: "already-consumed",
        token: { ...first, consumedAt: now + 1, successor: "sealed-successor" },
      });
      const again = await other.consumeRefreshToken(next.hash, now);
      assert.equal(again.status, "claimed");
      assert.equal(again.status === "claimed" && again.session.data, "data-2");

      // A completed claim cannot be released or completed twice.
      await store.releaseRefreshToken({ hash: first.hash, claimedAt: now + 1 });
      assert.equal((await store.getRefreshToken(first.hash))?.consumedAt, now + 1);
      await assert.rejects(
        store.completeRotation(rotation(first.hash, now + 1, refreshToken(owner.id), "data-3")),
        RotationConflictError,
      );
      assert.equal((await store.getSession(owner.id))?.data, "data-2");
    });

    it("refuses to complete a rotation that was not claimed or whose session is gone", async () => {
      const [store] = await oneStore();
      const owner = session();
      const first = refreshToken(owner.id);
      await store.createSession(owner, first);
      const unclaimedNext = refreshToken(owner.id);
      await assert.rejects(
        store.completeRotation(rotation(first.hash, nowSeconds(), unclaimedNext, "data-x")),
        RotationConflictError,
      );
      assert.equal(await store.getRefreshToken(unclaimedNext.hash), null);
      assert.equal((await store.getSession(owner.id))?.data, owner.data);

      const now = nowSeconds();
      assert.equal((await store.consumeRefreshToken(first.hash, now)).status, "claimed");
      // The next token names a session that does not exist: nothing at all may change.
      const strayNext = refreshToken("no-such-session");
      await assert.rejects(
        store.completeRotation(rotation(first.hash, now, strayNext, "data-y")),
        RotationConflictError,
      );
      assert.equal(await store.getRefreshToken(strayNext.hash), null);
      assert.deepEqual(await store.getRefreshToken(first.hash), { ...first, consumedAt: now });

      await store.revokeSession(owner.id);
      const orphanNext = refreshToken(owner.id);
      await assert.rejects(store.completeRotation(rotation(first.hash, now, orphanNext, "d")));
      assert.equal(await store.getRefreshToken(orphanNext.hash), null);
    });

    it("lets exactly one of many take over an expired claim, and fences out the late holder", async () => {
      const instances = await stores(harness.instances);
      const store = pick(instances, 0);
      const owner = session();
      const token = refreshToken(owner.id);
      await store.createSession(owner, token);
      const claimedAt = nowSeconds() - 60;
      assert.equal((await store.consumeRefreshToken(token.hash, claimedAt)).status, "claimed");
      const now = nowSeconds();
      // A take-over names the claim it replaces; a wrong claim time takes nothing.
      const wrong = await store.reclaimRefreshToken({ hash: token.hash, claimedAt: now }, now);
      assert.equal(wrong.status, "already-consumed");
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          pick(instances, i).reclaimRefreshToken({ hash: token.hash, claimedAt }, now),
        ),
      );
      assert.equal(results.filter((result) => result.status === "claimed").length, 1);
      assert.equal((await store.getRefreshToken(token.hash))?.consumedAt, now);
      // The late holder can neither release nor complete what it no longer holds.
      await store.releaseRefreshToken({ hash: token.hash, claimedAt });
      assert.equal((await store.getRefreshToken(token.hash))?.consumedAt, now);
      await assert.rejects(
        store.completeRotation(rotation(token.hash, claimedAt, refreshToken(owner.id), "late")),
        RotationConflictError,
      );
      await store.completeRotation(rotation(token.hash, now, refreshToken(owner.id), "taken-over"));
      assert.equal((await store.getSession(owner.id))?.data, "taken-over");
      // A completed rotation cannot be taken over.
      const done = await store.reclaimRefreshToken({ hash: token.hash, claimedAt: now }, now + 60);
      assert.equal(done.status, "already-consumed");
      assert.deepEqual(await store.reclaimRefreshToken({ hash: "no-such-hash", claimedAt }, now), {
        status: "unknown",
      });
    });

    it("keeps at most two refresh tokens per session however often it rotates", async () => {
      const [store, namespace] = await oneStore();
      const owner = session();
      let live = refreshToken(owner.id);
      await store.createSession(owner, live);
      const rotated: RefreshTokenRecord[] = [];
      for (let i = 0; i < 6; i++) {
        const now = nowSeconds();
        assert.equal((await store.consumeRefreshToken(live.hash, now)).status, "claimed");
        const next = refreshToken(owner.id);
        await store.completeRotation(rotation(live.hash, now, next, `data-${i}`));
        rotated.push(live);
        live = next;
      }
      // The session, its live token and the one inside the grace window.
      assert.equal(await harness.countExpirable(namespace), 3);
      assert.notEqual(await store.getRefreshToken(live.hash), null);
      assert.equal(
        (await store.getRefreshToken(rotated.at(-1)?.hash ?? ""))?.successor,
        "sealed-successor",
      );
      for (const old of rotated.slice(0, -1)) {
        assert.equal(await store.getRefreshToken(old.hash), null);
      }
      await store.revokeSession(owner.id);
      assert.equal(await harness.countExpirable(namespace), 0);
    });

    it("revokes a session with all of its tokens", async () => {
      const [store] = await oneStore();
      const owner = session();
      const first = refreshToken(owner.id);
      await store.createSession(owner, first);
      const bystander = session();
      const bystanderToken = refreshToken(bystander.id);
      await store.createSession(bystander, bystanderToken);
      const now = nowSeconds();
      await store.consumeRefreshToken(first.hash, now);
      const second = refreshToken(owner.id);
      await store.completeRotation(rotation(first.hash, now, second, "data-2"));

      await store.revokeSession(owner.id);
      assert.equal(await store.getSession(owner.id), null);
      assert.equal(await store.getRefreshToken(first.hash), null);
      assert.equal(await store.getRefreshToken(second.hash), null);
      assert.deepEqual(await store.consumeRefreshToken(second.hash, now), { status: "unknown" });
      assert.deepEqual(await store.consumeRefreshToken(first.hash, now), { status: "unknown" });
      assert.deepEqual(await store.getSession(bystander.id), bystander);
      assert.equal((await store.consumeRefreshToken(bystanderToken.hash, now)).status, "claimed");
      await store.revokeSession("no-such-session");
    });

    it("revokes the sessions of an IdP session or a subject (back-channel logout), on every instance", async () => {
      const instances = await stores(Math.max(2, harness.instances));
      const [writer, reader] = [pick(instances, 0), pick(instances, 1)];
      const now = nowSeconds();
      const subject = unique("carol");
      const other = unique("dave");
      const made: Array<{ record: SessionRecord; token: RefreshTokenRecord }> = [];
      const make = async (overrides: Partial<SessionRecord>) => {
        const record = session(overrides);
        const token = refreshToken(record.id);
        await writer.createSession(record, token);
        made.push({ record, token });
        return { record, token };
      };
      const sidA = unique("sid-a");
      const sidB = unique("sid-b");
      const a1 = await make({ subject, idpSid: sidA });
      const a2 = await make({ subject, idpSid: sidA });
      const b = await make({ subject, idpSid: sidB });
      const unknownSid = await make({ subject });
      const otherUser = await make({ subject: other, idpSid: unique("sid-c") });
      const alive = async (entry: { record: SessionRecord }) =>
        (await reader.getSession(entry.record.id)) !== null;

      // Read back exactly, IdP sid included.
      assert.deepEqual(await reader.getSession(a1.record.id), a1.record);
      assert.equal(await reader.revokeSessionsOf({}), 0, "neither given: nothing");
      assert.equal(await reader.revokeSessionsOf({ idpSid: unique("no-such-sid") }), 0);

      // sid alone: exactly the sessions of that IdP session, with their tokens.
      assert.equal(await reader.revokeSessionsOf({ idpSid: sidA }), 2);
      assert.equal(await alive(a1), false);
      assert.equal(await alive(a2), false);
      assert.deepEqual(await writer.consumeRefreshToken(a1.token.hash, now), { status: "unknown" });
      assert.equal(await writer.getRefreshToken(a2.token.hash), null);
      assert.ok((await alive(b)) && (await alive(unknownSid)) && (await alive(otherUser)));

      // sub and sid: that IdP session, and the subject's sessions whose sid is unknown.
      const b2 = await make({ subject, idpSid: sidB });
      const c = await make({ subject, idpSid: unique("sid-d") });
      assert.equal(await reader.revokeSessionsOf({ subject, idpSid: sidB }), 3);
      assert.equal(await alive(b), false);
      assert.equal(await alive(b2), false);
      assert.equal(await alive(unknownSid), false);
      assert.equal(await alive(c), true, "another IdP session of the same user stays");

      // sub alone: every session of the subject, and no one else's.
      await make({ subject });
      assert.equal(await reader.revokeSessionsOf({ subject }), 2);
      assert.equal(await alive(c), false);
      assert.equal(await alive(otherUser), true);
      assert.equal((await writer.consumeRefreshToken(otherUser.token.hash, now)).status, "claimed");
      assert.equal(await reader.revokeSessionsOf({ subject }), 0, "already gone");

      // A session revoked one by one is no longer found by its subject or sid.
      const d = await make({ subject: other, idpSid: unique("sid-e") });
      await writer.revokeSession(d.record.id);
      assert.equal(await reader.revokeSessionsOf({ idpSid: d.record.idpSid }), 0);
      assert.equal(await reader.revokeSessionsOf({ subject: other }), 1, "only the other one");
    });

    it("finds the session ids a back-channel logout names, as revokeSessionsOf would", async () => {
      const instances = await stores(Math.max(2, harness.instances));
      const [writer, reader] = [pick(instances, 0), pick(instances, 1)];
      const subject = unique("erin");
      const make = async (overrides: Partial<SessionRecord>) => {
        const record = session(overrides);
        await writer.createSession(record, refreshToken(record.id));
        return record.id;
      };
      const sidA = unique("sid-a");
      const a1 = await make({ subject, idpSid: sidA });
      const a2 = await make({ subject, idpSid: sidA });
      const b = await make({ subject, idpSid: unique("sid-b") });
      const noSid = await make({ subject });
      await make({ subject: unique("frank"), idpSid: sidA.replace("a", "z") });
      const sorted = (ids: string[]) => [...ids].sort();
      assert.deepEqual(await reader.sessionIdsOf({}), []);
      assert.deepEqual(sorted(await reader.sessionIdsOf({ idpSid: sidA })), sorted([a1, a2]));
      assert.deepEqual(sorted(await reader.sessionIdsOf({ subject })), sorted([a1, a2, b, noSid]));
      assert.deepEqual(
        sorted(await reader.sessionIdsOf({ subject, idpSid: sidA })),
        sorted([a1, a2, noSid]),
      );
      await writer.revokeSession(a1);
      assert.deepEqual(await reader.sessionIdsOf({ idpSid: sidA }), [a2], "a revoked one is gone");
      assert.equal(await reader.revokeSessionsOf({ subject }), 3);
      assert.deepEqual(await reader.sessionIdsOf({ subject }), []);
    });

    it("denies sessions on every instance until the entry expires (instant revocation)", async () => {
      const instances = await stores(Math.max(2, harness.instances));
      const [writer, reader] = [pick(instances, 0), pick(instances, 1)];
      const now = nowSeconds();
      const [denied, also, bystander, brief, extended] = ["a", "b", "c", "d", "e"].map((name) =>
        unique(`session-${name}`),
      ) as [string, string, string, string, string];
      await writer.denySessions([], now + 60);
      await writer.denySessions([denied, also], now + 60);
      // Two seconds, not one: the whole-second clock may tick between here and the first check.
      await writer.denySessions([brief, extended], now + 2);
      await writer.denySessions([extended], now + 60);
      assert.equal(await reader.isSessionDenied(denied), true);
      assert.equal(await reader.isSessionDenied(also), true);
      assert.equal(await reader.isSessionDenied(bystander), false);
      assert.equal(await reader.isSessionDenied(brief), true);
      // The deny-list is apart from the used-once ids, though some backends keep both together.
      assert.equal(await reader.useOnce(denied, now + 60), true);
      assert.equal(await reader.isSessionDenied(bystander), false);
      const untilExpired = (now + 2) * 1000 + 100 - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, untilExpired)));
      assert.equal(await reader.isSessionDenied(brief), false, "expired");
      assert.equal(await reader.isSessionDenied(extended), true, "denying again moved the expiry");
      await writer.purgeExpired(nowSeconds());
      assert.equal(await reader.isSessionDenied(denied), true, "purge keeps live entries");
    });

    it("uses an id once until it expires", async () => {
      const instances = await stores(harness.instances);
      const now = nowSeconds();
      const id = unique("state");
      assert.equal(await pick(instances, 0).useOnce(id, now + 60), true);
      assert.equal(await pick(instances, 0).useOnce(id, now + 60), false);
      assert.equal(await pick(instances, 1).useOnce(id, now + 60), false);
      assert.equal(await pick(instances, 1).useOnce(unique("state"), now + 60), true);

      const raced = unique("state");
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => pick(instances, i).useOnce(raced, now + 60)),
      );
      assert.equal(answers.filter(Boolean).length, 1);

      const expired = unique("state");
      assert.equal(await pick(instances, 0).useOnce(expired, now - 1), true);
      assert.equal(await pick(instances, 0).useOnce(expired, now + 60), true);
      assert.equal(await pick(instances, 0).useOnce(expired, now + 60), false);
    });

    it("saves, loads and overwrites a peer's JWKS", async () => {
      const [store] = await oneStore();
      const issuer = "https://peer.example.org/api";
      assert.equal(await store.loadPeerJwks(issuer), null);
      await store.savePeerJwks(issuer, '{"keys":[1]}', 100);
      await store.savePeerJwks("https://other.example.org", '{"keys":[]}', 50);
      assert.deepEqual(await store.loadPeerJwks(issuer), { jwks: '{"keys":[1]}', fetchedAt: 100 });
      await store.savePeerJwks(issuer, '{"keys":[2]}', 200);
      assert.deepEqual(await store.loadPeerJwks(issuer), { jwks: '{"keys":[2]}', fetchedAt: 200 });
      assert.deepEqual(await store.loadPeerJwks("https://other.example.org"), {
        jwks: '{"keys":[]}',
        fetchedAt: 50,
      });
    });

    it("purges expired sessions, tokens and used ids, and keeps live ones", async () => {
      const [store, namespace] = await oneStore();
      const now = nowSeconds();
      const live = session();
      const liveToken = refreshToken(live.id);
      await store.createSession(live, liveToken);
      const expired = session({ expiresAt: now - 10 });
      await store.createSession(expired, refreshToken(expired.id));
      const liveWithExpiredToken = session();
      await store.createSession(
        liveWithExpiredToken,
        refreshToken(liveWithExpiredToken.id, { expiresAt: now - 10 }),
      );
      await store.useOnce(unique("state"), now - 10);
      await store.useOnce(unique("state"), now + 60);

      await store.purgeExpired(now);
      // Kept: both live sessions, the live token and the live used id.
      assert.equal(await harness.countExpirable(namespace), 4);
      assert.deepEqual(await store.getSession(live.id), live);
      assert.equal((await store.consumeRefreshToken(liveToken.hash, now)).status, "claimed");
    });

    it("works on a client passed in, and close() leaves that client open", async (t) => {
      if (!harness.openOnOwnClient) return t.skip("this backend takes no client");
      const own = await harness.openOnOwnClient(nextNamespace("own"));
      try {
        await own.store.init();
        const owner = session();
        const token = refreshToken(owner.id);
        await own.store.createSession(owner, token);
        const now = nowSeconds();
        assert.equal((await own.store.consumeRefreshToken(token.hash, now)).status, "claimed");
        await own.store.revokeSession(owner.id);
        assert.deepEqual(await own.store.consumeRefreshToken(token.hash, now), {
          status: "unknown",
        });
        await own.store.close();
        assert.equal(await own.clientWorks(), true);
      } finally {
        await own.closeClient();
      }
    });

    it("opens from each of its URL forms", async () => {
      for (const url of harness.urlForms) {
        const namespace = nextNamespace("url");
        const store = await createBrokerStore(url, { prefix: harness.urlPrefix(namespace) });
        opened.push(store);
        await store.init();
        const key = signingKey(7, `via-${namespace}`);
        assert.deepEqual(await store.putSigningKeyIfAbsent(key), key, url);
        assert.equal(await store.useOnce(unique("state"), nowSeconds() + 60), true, url);
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Backends

const sqlPrefix = (namespace: string) => `oidc_broker_t${RUN}_${namespace}_`;

conformanceSuite("MemoryBrokerStore", null, async () => {
  const stores = new Map<string, MemoryBrokerStore>();
  return {
    // Separate instances share nothing, so each namespace has one.
    instances: 1,
    async open(namespace) {
      const store = stores.get(namespace) ?? new MemoryBrokerStore();
      stores.set(namespace, store);
      return store;
    },
    async countExpirable(namespace) {
      const size = stores.get(namespace)?.size();
      return size ? size.sessions + size.refreshTokens + size.usedIds : 0;
    },
    urlForms: ["memory://"],
    urlPrefix: (namespace) => namespace,
    async cleanup() {},
  };
});

conformanceSuite("SQLiteBrokerStore", null, async () => {
  const folder = await mkdtemp(join(tmpdir(), "ts-oidc-auth-stores-"));
  const file = join(folder, "broker.sqlite");
  return {
    instances: 4,
    async open(namespace) {
      return new SQLiteBrokerStore({ path: file, tablePrefix: sqlPrefix(namespace) });
    },
    async countExpirable(namespace) {
      const db = new Database(file, { readonly: true });
      try {
        return await countSqlRows(namespace, (sql) => Number(db.prepare(sql).pluck().get()));
      } finally {
        db.close();
      }
    },
    async openOnOwnClient(namespace) {
      const database = new Database(file);
      const store = new SQLiteBrokerStore({ database, tablePrefix: sqlPrefix(namespace) });
      return {
        store,
        clientWorks: async () => database.open && database.prepare("SELECT 1").pluck().get() === 1,
        closeClient: async () => void database.close(),
      };
    },
    urlForms: [
      `sqlite:///${relative(process.cwd(), join(folder, "relative.sqlite"))}`,
      `sqlite+aiosqlite:///${join(folder, "absolute.sqlite")}`,
      "sqlite://:memory:",
    ],
    urlPrefix: sqlPrefix,
    async cleanup() {
      await rm(folder, { recursive: true, force: true });
    },
  };
});

/** Sessions + tokens + used ids in a namespace's SQL tables. */
async function countSqlRows(
  namespace: string,
  count: (sql: string) => number | Promise<number>,
): Promise<number> {
  let total = 0;
  for (const table of ["sessions", "refresh_tokens", "used_ids"]) {
    total += await count(`SELECT COUNT(*) AS n FROM ${sqlPrefix(namespace)}${table}`);
  }
  return total;
}

/** What differs between the PostgreSQL and the MySQL server harness. */
interface SqlServer<Pool> {
  url: string;
  newPool(): Pool;
  /** The first column of each row. */
  column(pool: Pool, sql: string, params?: string[]): Promise<unknown[]>;
  endPool(pool: Pool): Promise<void>;
  store(options: { url?: string; pool?: Pool; tablePrefix: string }): BrokerStore;
  /** Lists this database's tables whose names are LIKE the one parameter. */
  tablesLike: string;
  quote(name: string): string;
  urlSchemes: string[];
}

function sqlServerHarness<Pool>(server: SqlServer<Pool>): Harness {
  const admin = server.newPool();
  const firstValue = async (pool: Pool, sql: string) => (await server.column(pool, sql))[0];
  return {
    instances: 4,
    async open(namespace) {
      return server.store({ url: server.url, tablePrefix: sqlPrefix(namespace) });
    },
    countExpirable: (namespace) =>
      countSqlRows(namespace, async (sql) => Number(await firstValue(admin, sql))),
    async openOnOwnClient(namespace) {
      const pool = server.newPool();
      return {
        store: server.store({ pool, tablePrefix: sqlPrefix(namespace) }),
        clientWorks: async () => Number(await firstValue(pool, "SELECT 1")) === 1,
        closeClient: () => server.endPool(pool),
      };
    },
    urlForms: server.urlSchemes.map((scheme) => withScheme(server.url, scheme)),
    urlPrefix: sqlPrefix,
    async cleanup() {
      const tables = await server.column(admin, server.tablesLike, [`oidc_broker_t${RUN}%`]);
      for (const table of tables) {
        await server.column(admin, `DROP TABLE IF EXISTS ${server.quote(String(table))}`);
      }
      await server.endPool(admin);
    },
  };
}

const postgresUnavailable = await probePostgres();
conformanceSuite("PostgresBrokerStore", postgresUnavailable, async () =>
  sqlServerHarness<pg.Pool>({
    url: serviceUrls.postgres,
    newPool: () => new pg.Pool({ connectionString: serviceUrls.postgres, max: 2 }),
    column: async (pool, sql, params) =>
      (await pool.query({ text: sql, values: params, rowMode: "array" })).rows.map((row) => row[0]),
    endPool: (pool) => pool.end(),
    store: (options) => new PostgresBrokerStore(options),
    tablesLike:
      "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
    quote: (name) => `"${name}"`,
    urlSchemes: ["postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"],
  }),
);

const mysqlUnavailable = await probeMySQL();
conformanceSuite("MySQLBrokerStore (MariaDB/MySQL)", mysqlUnavailable, async () =>
  sqlServerHarness<MySQLPool>({
    url: serviceUrls.mysql,
    newPool: () => createPool({ uri: serviceUrls.mysql, connectionLimit: 2 }),
    column: async (pool, sql, params) => {
      const [rows] = await pool.query({ sql, values: params, rowsAsArray: true });
      return Array.isArray(rows) ? rows.map((row) => (Array.isArray(row) ? row[0] : row)) : [];
    },
    endPool: (pool) => pool.end(),
    store: (options) => new MySQLBrokerStore(options),
    tablesLike:
      "SELECT table_name FROM information_schema.tables " +
      "WHERE table_schema = DATABASE() AND table_name LIKE ?",
    quote: (name) => `\`${name}\``,
    urlSchemes: ["mysql", "mariadb", "mysql+aiomysql", "mysql+asyncmy", "mysql+pymysql"],
  }),
);

const redisUnavailable = await probeRedis();
conformanceSuite("RedisBrokerStore", redisUnavailable, async () => {
  const url = serviceUrls.redis;
  const admin = new Redis(url);
  const keyPrefix = (namespace: string) => `oidc_broker_test:${RUN}:${namespace}:`;
  const keys = async (pattern: string) => {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await admin.scan(cursor, "MATCH", pattern, "COUNT", 500);
      found.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    return found;
  };
  return {
    instances: 4,
    async open(namespace) {
      return new RedisBrokerStore({ url, keyPrefix: keyPrefix(namespace) });
    },
    async countExpirable(namespace) {
      const kinds = ["session:*", "token:*", "once:*"];
      const counts = await Promise.all(kinds.map((kind) => keys(`${keyPrefix(namespace)}${kind}`)));
      return counts.reduce((total, found) => total + found.length, 0);
    },
    async openOnOwnClient(namespace) {
      // A client with a key prefix of its own: the store's scripts must honour it.
      const client = new Redis(url, { keyPrefix: keyPrefix(namespace) });
      return {
        store: new RedisBrokerStore({ client, keyPrefix: "store:" }),
        clientWorks: async () => (await client.ping()) === "PONG",
        closeClient: async () => void (await client.quit()),
      };
    },
    urlForms: [url],
    urlPrefix: keyPrefix,
    async cleanup() {
      const found = await keys(`oidc_broker_test:${RUN}:*`);
      if (found.length > 0) await admin.del(...found);
      await admin.quit();
    },
  };
});

/** The MongoDB server for this run: MONGODB_URL, else an in-process wire-compatible one. */
async function mongoServer(): Promise<{
  url: string;
  wire?: MongoWireServer;
  reason: string | null;
}> {
  if (serviceUrls.mongodb) {
    return { url: serviceUrls.mongodb, reason: await probeMongoDB(serviceUrls.mongodb) };
  }
  try {
    const wire = await startMongoWireServer();
    return { url: wire.url, wire, reason: await probeMongoDB(wire.url) };
  } catch (error) {
    return { url: "", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The URL with the database path set, keeping hosts and options. */
function withDatabase(url: string, database: string): string {
  return url.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]*)(\/[^?]*)?/, `$1/${database}`);
}

const mongo = await mongoServer();
conformanceSuite("MongoDBBrokerStore", mongo.reason, async () => {
  const dbName = `oidc_broker_test_${RUN}`;
  const admin = new MongoClient(mongo.url);
  await admin.connect();
  const db: Db = admin.db(dbName);
  const prefix = (namespace: string) => `${namespace}_`;
  return {
    instances: 4,
    async open(namespace) {
      return new MongoDBBrokerStore({
        url: mongo.url,
        dbName,
        collectionPrefix: prefix(namespace),
      });
    },
    async countExpirable(namespace) {
      const names = ["sessions", "refresh_tokens", "used_ids"];
      const counts = await Promise.all(
        names.map((name) => db.collection(`${prefix(namespace)}${name}`).countDocuments()),
      );
      return counts.reduce((total, count) => total + count, 0);
    },
    async openOnOwnClient(namespace) {
      const client = new MongoClient(mongo.url);
      await client.connect();
      return {
        // As the seed page does: new MongoDBBrokerStore({ db: mongoClient.db("my-app") }).
        store: new MongoDBBrokerStore({
          db: client.db(dbName),
          collectionPrefix: prefix(namespace),
        }),
        clientWorks: async () => (await client.db(dbName).command({ ping: 1 })).ok === 1,
        closeClient: () => client.close(),
      };
    },
    urlForms: [withDatabase(mongo.url, dbName)],
    urlPrefix: prefix,
    async cleanup() {
      await db.dropDatabase();
      await admin.close();
      await mongo.wire?.stop();
    },
  };
});
// The wire server starts before the suite is known to run; stop it when skipped.
if (mongo.reason !== null) await mongo.wire?.stop();

// ---------------------------------------------------------------------------
// Store URLs

describe("broker store URLs", () => {
  it("reads every supported scheme, SQLAlchemy driver suffixes included", () => {
    const cases: Array<[string, unknown]> = [
      ["memory://", { backend: "memory" }],
      [
        "postgresql://u:p@db:5432/app",
        { backend: "postgres", url: "postgresql://u:p@db:5432/app" },
      ],
      ["postgres://db/app", { backend: "postgres", url: "postgresql://db/app" }],
      [
        "postgresql+asyncpg://db/app?ssl=true",
        { backend: "postgres", url: "postgresql://db/app?ssl=true" },
      ],
      ["postgresql+psycopg://db/app", { backend: "postgres", url: "postgresql://db/app" }],
      ["POSTGRESQL+PSYCOPG2://db/app", { backend: "postgres", url: "postgresql://db/app" }],
      ["mysql://root@db/app", { backend: "mysql", url: "mysql://root@db/app" }],
      ["mariadb://root@db/app", { backend: "mysql", url: "mysql://root@db/app" }],
      ["mysql+aiomysql://root@db/app", { backend: "mysql", url: "mysql://root@db/app" }],
      ["mysql+asyncmy://root@db/app", { backend: "mysql", url: "mysql://root@db/app" }],
      ["mysql+pymysql://root@db/app", { backend: "mysql", url: "mysql://root@db/app" }],
      ["mariadb+mariadbconnector://db/app", { backend: "mysql", url: "mysql://db/app" }],
      [
        "mongodb://h1:1,h2:2/app?replicaSet=rs",
        { backend: "mongodb", url: "mongodb://h1:1,h2:2/app?replicaSet=rs" },
      ],
      [
        "mongodb+srv://cluster.example.org/app",
        { backend: "mongodb", url: "mongodb+srv://cluster.example.org/app" },
      ],
      ["redis://cache:6379/2", { backend: "redis", url: "redis://cache:6379/2" }],
      ["rediss://:pw@cache:6380", { backend: "redis", url: "rediss://:pw@cache:6380" }],
    ];
    for (const [url, expected] of cases) assert.deepEqual(parseStoreUrl(url), expected, url);
  });

  it("reads sqlite URLs the SQLAlchemy way: three slashes relative, four absolute", () => {
    const cases: Array<[string, string]> = [
      ["sqlite:///data/broker.db", resolve(process.cwd(), "data/broker.db")],
      ["sqlite+aiosqlite:///broker.db", resolve(process.cwd(), "broker.db")],
      ["sqlite:////var/lib/app/broker.db", "/var/lib/app/broker.db"],
      ["sqlite+aiosqlite:////var/lib/app/broker.db?timeout=5", "/var/lib/app/broker.db"],
      ["sqlite://:memory:", ":memory:"],
      ["sqlite:///:memory:", ":memory:"],
      ["sqlite://", ":memory:"],
    ];
    for (const [url, path] of cases) {
      assert.deepEqual(parseStoreUrl(url), { backend: "sqlite", path }, url);
    }
  });

  it("creates the store class each scheme names, without connecting", async () => {
    const cases: Array<[string, new (...args: never[]) => BrokerStore]> = [
      ["memory://", MemoryBrokerStore],
      ["sqlite://:memory:", SQLiteBrokerStore],
      ["postgresql+asyncpg://u@127.0.0.1:1/db", PostgresBrokerStore],
      ["mariadb://u@127.0.0.1:1/db", MySQLBrokerStore],
      ["mongodb+srv://cluster.example.org/db", MongoDBBrokerStore],
      ["rediss://127.0.0.1:1", RedisBrokerStore],
    ];
    for (const [url, expected] of cases) {
      const store = await createBrokerStore(url);
      assert.ok(store instanceof expected, url);
      await store.close();
    }
    const relativeStore = await createBrokerStore("sqlite:///var/broker.db");
    assert.ok(relativeStore instanceof SQLiteBrokerStore);
    assert.equal(relativeStore.path, resolve(process.cwd(), "var/broker.db"));
  });

  it("opens an absolute sqlite path, creating its folder", async () => {
    const folder = await mkdtemp(join(tmpdir(), "ts-oidc-auth-url-"));
    try {
      const path = join(folder, "nested", "broker.sqlite");
      const store = await createBrokerStore(`sqlite:///${path}`);
      await store.init();
      assert.equal(await store.useOnce("x", nowSeconds() + 60), true);
      await store.close();
      assert.ok(existsSync(path));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("defaults to broker.sqlite in the user's data directory for the app", async (t) => {
    if (process.platform !== "linux") return t.skip("checks the XDG location used on Linux");
    const folder = await mkdtemp(join(tmpdir(), "ts-oidc-auth-xdg-"));
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = folder;
    try {
      const store = await createBrokerStore(undefined, { appName: "my-app" });
      assert.ok(store instanceof SQLiteBrokerStore);
      assert.equal(store.path, join(folder, "my-app", "broker.sqlite"));
      assert.ok(existsSync(join(folder, "my-app")));
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("rejects an unknown scheme by name, listing the supported ones", () => {
    assert.throws(
      () => parseStoreUrl("cassandra://admin:hunter2-secret@db/app"),
      (error: Error) =>
        error.message.includes('"cassandra"') &&
        error.message.includes("postgresql://") &&
        error.message.includes("sqlite:///") &&
        !error.message.includes("hunter2"),
    );
    assert.throws(
      () => parseStoreUrl("admin:hunter2-secret@db/app"),
      (error: Error) => error.message.includes("scheme") && !error.message.includes("hunter2"),
    );
  });

  it("keeps the password out of connection errors", async () => {
    for (const url of [
      "postgresql+asyncpg://admin:hunter2-secret@127.0.0.1:1/app",
      "mysql+aiomysql://admin:hunter2-secret@127.0.0.1:1/app",
    ]) {
      const store = await createBrokerStore(url);
      await assert.rejects(store.init(), (error: Error) => !error.message.includes("hunter2"));
      await store.close();
    }
  });

  it("names the package to install when a driver is missing", async () => {
    const missing: string = "ts-oidc-auth-no-such-driver";
    await assert.rejects(
      importPeer(missing, "The Imaginary broker store", () => import(missing)),
      (error: Error) =>
        error.message ===
        `The Imaginary broker store needs the "${missing}" package: npm install ${missing}`,
    );
  });

  it("rejects a table prefix that is not a plain identifier", () => {
    assert.throws(
      () => new SQLiteBrokerStore({ path: ":memory:", tablePrefix: "x; DROP TABLE y" }),
      /tablePrefix/,
    );
  });
});

describe("sqlite URLs with ~ (as py-oidc-auth's create_broker_store reads them)", () => {
  it("starts a relative path beginning with ~/ in the home directory", () => {
    const cases: Array<[string, string]> = [
      ["sqlite+aiosqlite:///~/app.sqlite", join(homedir(), "app.sqlite")],
      ["sqlite:///~/data/broker.db?timeout=5", join(homedir(), "data", "broker.db")],
    ];
    for (const [url, path] of cases) {
      assert.deepEqual(parseStoreUrl(url), { backend: "sqlite", path }, url);
    }
  });

  it("leaves an absolute path with ~ in it alone", () => {
    assert.deepEqual(parseStoreUrl("sqlite:////~/x.db"), { backend: "sqlite", path: "/~/x.db" });
  });

  it("refuses ~user and a bare ~, which py-oidc-auth would turn into <home>user", () => {
    for (const url of ["sqlite:///~bob/app.sqlite", "sqlite+aiosqlite:///~"]) {
      assert.throws(() => parseStoreUrl(url), /may start with ~\/ .*not otherwise with ~/, url);
    }
  });
});
