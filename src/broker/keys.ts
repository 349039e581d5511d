/**
 * The broker's signing keys (docs/broker.md "Broker mode", Keys). Time is cut into rotation slots; the
 * key of a slot is created by whichever instance needs it first and kept in
 * the store, whose insert-if-absent makes the creation race-safe: every
 * instance sharing the store signs with the same key. The JWKS publishes the
 * current and the previous key.
 *
 * Data loss (docs/broker.md "Running several instances"): a store that lost its keys
 * (Redis restarted without persistence) gets them back from any instance
 * that still holds them. Each instance remembers the key records in use (as
 * last listed, with their sealed private halves) and saves again, into the
 * same slot and race-safely, those the store no longer lists; it publishes
 * and trusts what it remembers, so a listing that comes back empty never
 * empties its JWKS. An instance that signs checks the store at most once per
 * `STORE_CHECK_MS`, one that only verifies at each refresh of its key set.
 */
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from "jose";
import { unavailable } from "../core/errors.ts";
import { RefreshingKeySet } from "../core/keyset.ts";
import type { Logger } from "../core/log.ts";
import { nowSeconds } from "../core/time.ts";
import type { BrokerStore, SigningKeyRecord } from "../stores/types.ts";
import type { BrokerSigningAlg } from "./options.ts";
import { type SecretBox, UnreadableSecret } from "./secret-box.ts";

export interface SigningKey {
  slot: number;
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface BrokerKeyOptions {
  alg: BrokerSigningAlg;
  rotationSeconds: number;
  /** Encrypts private keys at rest. */
  box: SecretBox;
  logger: Logger;
}

/** Keys published and trusted: the current and the previous one. */
const PUBLISHED_KEYS = 2;
/** Shortest time between two looks at the store's keys by an instance that signs. */
const STORE_CHECK_MS = 1000;
/**
 * Age after which the key set is listed again: the longest an instance that only
 * verifies takes to give a store that lost its keys what it holds.
 */
const KEY_SET_MAX_AGE_MS = 10_000;

export class BrokerKeys {
  /** The public keys, for verifying the broker's own tokens. */
  readonly verificationKeys: RefreshingKeySet;
  private signing: SigningKey | undefined;
  /** The stored record of the signing key (whose slot may be later than the current one). */
  private signingRecord: SigningKeyRecord | undefined;
  private pending: Promise<SigningKey> | undefined;
  /** The key records in use, newest first: what the store listed last, and what was saved again. */
  private inUse: SigningKeyRecord[] = [];
  /** When the store's keys were last listed (or tried). */
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** Kids of keys lost from the store whose slot got another key (logged once). */
  private readonly replaced = new Set<string>();
  /** The look at the store that follows a signature made without one. */
  private checkTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: () => Promise<BrokerStore>,
    private readonly options: BrokerKeyOptions,
  ) {
    // Another instance may start a new slot first: an unknown kid reloads from the store.
    // The key set's own rate limit (about one load a second) bounds the store reads a flood of made-up kids causes.
    this.verificationKeys = new RefreshingKeySet(() => this.listInUse(), {
      cooldownMs: 1000,
      maxAgeMs: KEY_SET_MAX_AGE_MS,
    });
  }

  /**
   * The key that signs now, created in the store if its slot has none yet.
   * The store is looked at first (to save again keys it lost) at most once
   * per STORE_CHECK_MS; a key handed out without a look gets one by then,
   * so a token signed just after a loss verifies elsewhere soon after.
   */
  current(): Promise<SigningKey> {
    const slot = Math.floor(Date.now() / 1000 / this.options.rotationSeconds);
    const sinceCheck = Date.now() - this.checkedAt;
    if (this.signing?.slot === slot && sinceCheck < STORE_CHECK_MS) {
      this.checkTimer ??= setTimeout(() => {
        this.checkTimer = undefined;
        this.current().catch(() => {}); // a failing store is logged where the store is guarded
      }, STORE_CHECK_MS - sinceCheck).unref();
      return Promise.resolve(this.signing);
    }
    this.pending ??= this.checkAndLoad(slot).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * The JWKS to publish: the keys in use, from memory. Only before the first
   * key exists does the answer wait for the store; a due look at the store
   * runs in the background, so a slow or locked store never stalls the JWKS.
   */
  async publicJwks(): Promise<JSONWebKeySet> {
    if (this.inUse.length === 0) await this.current();
    else this.current().catch(() => {}); // a failing store is logged where the store is guarded
    return jwksOf(this.inUse);
  }

  /** Checks the store (a failure keeps the key in hand), then loads the slot's key if needed. */
  private async checkAndLoad(slot: number): Promise<SigningKey> {
    if (this.signing?.slot === slot) {
      await this.verificationKeys.reload().catch(() => {});
      // Still ours unless the store holds another key for the slot (see listInUse).
      if (this.signing?.slot === slot) return this.signing;
    }
    return this.loadOrCreate(slot);
  }

  /**
   * The loader of the verification key set: the store's newest keys, after
   * saving again those in use that it lost, together with those in use that
   * it lost and could not take back (another instance made a new key for
   * their slot first: tokens they signed still verify here, and from now on
   * this instance signs with the store's key too).
   */
  private async listInUse(): Promise<JSONWebKeySet> {
    this.checkedAt = Date.now();
    const store = await this.store();
    const listed = await store.listSigningKeys(PUBLISHED_KEYS);
    const newest = Math.max(
      ...listed.map((record) => record.slot),
      ...this.inUse.map((r) => r.slot),
    );
    const missing = this.inUse.filter(
      (record) =>
        record.slot > newest - PUBLISHED_KEYS && !listed.some((other) => other.kid === record.kid),
    );
    for (const record of missing) {
      const taken = listed.some((other) => other.slot === record.slot);
      const winner = taken ? undefined : await store.putSigningKeyIfAbsent(record);
      if (winner !== undefined) listed.push(winner);
      if (winner?.kid === record.kid) {
        this.options.logger.warn(
          `Broker signing key ${record.kid} (slot ${record.slot}) was missing from the store (its data lost?): saved again.`,
        );
      } else if (!this.replaced.has(record.kid)) {
        this.replaced.add(record.kid);
        this.options.logger.warn(
          `Broker signing key ${record.kid} (slot ${record.slot}) was missing from the store, where another instance made a new key for its slot: signing with that one, trusting both.`,
        );
      }
    }
    const signed = this.signingRecord;
    const slotKey = listed.find((record) => record.slot === signed?.slot);
    if (signed !== undefined && slotKey !== undefined && slotKey.kid !== signed.kid) {
      this.signing = undefined; // every instance signs with the store's key of the slot
    }
    // What the store no longer lists inside the window stays in use here until the window moves on.
    this.inUse = newestFirst(listed, this.inUse, newest);
    return jwksOf(this.inUse);
  }

  /**
   * The newest key of this slot or a later one that a configured secret
   * opens. A key no secret opens (the secret was replaced, not rotated) is
   * skipped with one log line, and the next slot gets a new key: its public
   * half stays published, so tokens it signed still verify.
   */
  private async loadOrCreate(slot: number): Promise<SigningKey> {
    const store = await this.store();
    let [record] = await store.listSigningKeys(1);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (record === undefined || record.slot < slot) {
        record = await store.putSigningKeyIfAbsent(await this.generate(slot));
      }
      const key = await this.open(record);
      if (key !== undefined) {
        // Remembered for this slot: a key made ahead for a later slot signs until that one's turn.
        this.signing = { ...key, slot };
        this.signingRecord = record;
        this.remember(record);
        await this.verificationKeys.reload();
        return { ...key, slot };
      }
      record = await store.putSigningKeyIfAbsent(await this.generate(record.slot + 1));
    }
    throw unavailable("No signing key that the configured secrets open could be made.");
  }

  /** Remembers a key record this instance signs with, so that it can be saved again. */
  private remember(record: SigningKeyRecord): void {
    if (!this.inUse.some((known) => known.kid === record.kid)) {
      this.inUse = newestFirst([record], this.inUse, record.slot);
    }
  }

  private async open(record: SigningKeyRecord): Promise<SigningKey | undefined> {
    let privateJwk: JWK;
    try {
      // Keys written before every broker key was sealed are plain JSON.
      const text = record.privateJwk.startsWith("{")
        ? record.privateJwk
        : await this.options.box.open(record.privateJwk);
      privateJwk = JSON.parse(text) as JWK;
    } catch (error) {
      if (!(error instanceof UnreadableSecret)) throw error;
      this.options.logger.error(
        `Broker signing key ${record.kid} (slot ${record.slot}) opens with none of the configured secrets: skipped, a new key takes over. Keep the old secret at the end of "secret" to rotate secrets without this.`,
      );
      return undefined;
    }
    const privateKey = (await importJWK(privateJwk, record.alg)) as CryptoKey;
    return { slot: record.slot, kid: record.kid, alg: record.alg, privateKey };
  }

  private async generate(slot: number): Promise<SigningKeyRecord> {
    const { alg, box } = this.options;
    const pair = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid, alg });
    return {
      slot,
      kid,
      alg,
      publicJwk: JSON.stringify({ ...publicJwk, kid, alg, use: "sig" }),
      privateJwk: await box.seal(privateJwk),
      createdAt: nowSeconds(),
    };
  }
}

/** The public halves of `records` as a JWKS. */
function jwksOf(records: readonly SigningKeyRecord[]): JSONWebKeySet {
  return { keys: records.map((record) => JSON.parse(record.publicJwk) as JWK) };
}

/** The records of both lists inside the published window below `newest`, once each, newest first. */
function newestFirst(
  first: readonly SigningKeyRecord[],
  second: readonly SigningKeyRecord[],
  newest: number,
): SigningKeyRecord[] {
  const byKid = new Map<string, SigningKeyRecord>();
  for (const record of [...first, ...second]) {
    if (record.slot > newest - PUBLISHED_KEYS && !byKid.has(record.kid)) {
      byKid.set(record.kid, record);
    }
  }
  return [...byKid.values()].sort((a, b) => b.slot - a.slot);
}
