/**
 * The broker's signing keys (README "Broker mode", Keys). Time is cut into rotation slots; the
 * key of a slot is created by whichever instance needs it first and kept in
 * the store, whose insert-if-absent makes the creation race-safe: every
 * instance sharing the store signs with the same key. The JWKS publishes the
 * current and the previous key.
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

export class BrokerKeys {
  /** The public keys, for verifying the broker's own tokens. */
  readonly verificationKeys: RefreshingKeySet;
  private signing: SigningKey | undefined;
  private pending: Promise<SigningKey> | undefined;

  constructor(
    private readonly store: () => Promise<BrokerStore>,
    private readonly options: BrokerKeyOptions,
  ) {
    // Another instance may start a new slot first: an unknown kid reloads from the store.
    this.verificationKeys = new RefreshingKeySet(() => this.publicJwks(), {
      cooldownMs: 1000,
      maxAgeMs: 60_000,
    });
  }

  /** The key that signs now, created in the store if its slot has none yet. */
  current(): Promise<SigningKey> {
    const slot = Math.floor(Date.now() / 1000 / this.options.rotationSeconds);
    if (this.signing?.slot === slot) return Promise.resolve(this.signing);
    this.pending ??= this.loadOrCreate(slot).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The published JWKS: current and previous public keys. */
  async publicJwks(): Promise<JSONWebKeySet> {
    const records = await (await this.store()).listSigningKeys(PUBLISHED_KEYS);
    return { keys: records.map((record) => JSON.parse(record.publicJwk) as JWK) };
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
        await this.verificationKeys.reload();
        return this.signing;
      }
      record = await store.putSigningKeyIfAbsent(await this.generate(record.slot + 1));
    }
    throw unavailable("No signing key that the configured secrets open could be made.");
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
