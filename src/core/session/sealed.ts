/**
 * Sealed cookie values: an encrypted, expiring JWT (jose's compact JWE,
 * `dir` + A256GCM, RFC 7516) under a key of one purpose (keyring.ts), so
 * the browser can neither read nor alter what it holds, and a value sealed
 * for one purpose (login binding) opens nowhere else (the session).
 */
import { EncryptJWT, type JWTPayload, jwtDecrypt } from "jose";
import { Keyring } from "../keyring.ts";

const DECRYPT_OPTIONS = {
  keyManagementAlgorithms: ["dir"],
  contentEncryptionAlgorithms: ["A256GCM"],
};

export class SealedValues {
  private readonly keys: Keyring<CryptoKey>;

  constructor(secrets: readonly Uint8Array[], purpose: string) {
    this.keys = Keyring.forJwe(secrets, purpose);
  }

  /** `payload` sealed until `expiresAt` (unix seconds). */
  async seal(payload: JWTPayload, expiresAt: number): Promise<string> {
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .encrypt(await this.keys.sealing);
  }

  /** The payload, or undefined when the value is expired, altered or sealed by no configured secret. */
  async open(sealed: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await this.keys.openWithAny((key) =>
        jwtDecrypt(sealed, key, DECRYPT_OPTIONS),
      );
      return payload;
    } catch {
      return undefined;
    }
  }
}
