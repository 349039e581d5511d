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
import { RefreshingKeySet } from "../core/keyset.ts";
import { nowSeconds } from "../core/time.ts";
import type { BrokerStore, SigningKeyRecord } from "../stores/types.ts";
import type { BrokerSigningAlg } from "./options.ts";
import type { SecretBox } from "./secret-box.ts";

export interface SigningKey {
  slot: number;
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface BrokerKeyOptions {
  alg: BrokerSigningAlg;
  rotationSeconds: number;
  /** Encrypts private keys at rest; absent when no secret is configured. */
  box: SecretBox | undefined;
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

  private async loadOrCreate(slot: number): Promise<SigningKey> {
    const store = await this.store();
    const [newest] = await store.listSigningKeys(1);
    const record =
      newest?.slot === slot ? newest : await store.putSigningKeyIfAbsent(await this.generate(slot));
    const privateJwk = JSON.parse(
      this.options.box ? await this.options.box.open(record.privateJwk) : record.privateJwk,
    ) as JWK;
    this.signing = {
      slot: record.slot,
      kid: record.kid,
      alg: record.alg,
      privateKey: (await importJWK(privateJwk, record.alg)) as CryptoKey,
    };
    await this.verificationKeys.reload();
    return this.signing;
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
      privateJwk: box ? await box.seal(privateJwk) : privateJwk,
      createdAt: nowSeconds(),
    };
  }
}
