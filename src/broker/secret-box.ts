/**
 * Authenticated encryption of values the broker stores (IdP refresh tokens,
 * private keys, replayable token pairs): jose's compact JWE with `dir` +
 * A256GCM under keys derived from the secrets, one keyring per purpose: the
 * newest secret seals, every configured one opens.
 */
import { CompactEncrypt, compactDecrypt } from "jose";
import { Keyring } from "../core/keyring.ts";

const JWE_OPTIONS = { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] };

/** A stored value that none of the configured secrets opens (or that was altered). */
export class UnreadableSecret extends Error {
  override readonly name = "UnreadableSecret";
}

export class SecretBox {
  private readonly keys: Keyring<CryptoKey>;

  constructor(secrets: readonly Uint8Array[], purpose: string) {
    this.keys = Keyring.forJwe(secrets, purpose);
  }

  async seal(plaintext: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .encrypt(await this.keys.sealing);
  }

  /** Throws `UnreadableSecret` when no configured secret sealed the value, or it was altered. */
  async open(sealed: string): Promise<string> {
    try {
      const { plaintext } = await this.keys.openWithAny((key) =>
        compactDecrypt(sealed, key, JWE_OPTIONS),
      );
      return new TextDecoder().decode(plaintext);
    } catch (error) {
      throw new UnreadableSecret("no configured secret opens this stored value", { cause: error });
    }
  }
}
