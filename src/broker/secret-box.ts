/**
 * Authenticated encryption of values the broker stores (IdP refresh tokens,
 * private keys, replayable token pairs): jose's compact JWE with `dir` +
 * A256GCM under a key derived from the configured secret, one key per
 * purpose.
 */
import { CompactEncrypt, compactDecrypt } from "jose";
import { deriveKey } from "../core/state.ts";

const JWE_OPTIONS = { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] };

export class SecretBox {
  private readonly key: Promise<Uint8Array>;

  constructor(secret: Uint8Array, purpose: string) {
    this.key = deriveKey(secret, purpose);
  }

  async seal(plaintext: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .encrypt(await this.key);
  }

  /** Throws when the value was sealed under another secret or was altered. */
  async open(sealed: string): Promise<string> {
    const { plaintext } = await compactDecrypt(sealed, await this.key, JWE_OPTIONS);
    return new TextDecoder().decode(plaintext);
  }
}
