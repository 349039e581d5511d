/**
 * The keys of one purpose (login state, stored secrets, signing keys at
 * rest), derived with HKDF (RFC 5869) from each configured secret, newest
 * first: the first seals, every one opens, so a secret can be rotated by
 * putting the new one in front (README "Configuration", `secret`).
 */
export class Keyring<Key = Uint8Array> {
  /** The key that seals. */
  readonly sealing: Promise<Key>;
  /** Every key that opens, the sealing one first. */
  readonly opening: Promise<Key[]>;

  /** Raw 256-bit keys (for HMAC). */
  static raw(secrets: readonly Uint8Array[], purpose: string): Keyring<Uint8Array> {
    return new Keyring(secrets, purpose, async (key) => key);
  }

  /**
   * A256GCM keys for jose's `dir` JWE (RFC 7518 §4.5, §5.3), imported once:
   * given raw bytes, jose would import them again on every call.
   */
  static forJwe(secrets: readonly Uint8Array[], purpose: string): Keyring<CryptoKey> {
    return new Keyring(secrets, purpose, (key) =>
      crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]),
    );
  }

  private constructor(
    secrets: readonly Uint8Array[],
    purpose: string,
    prepare: (key: Uint8Array<ArrayBuffer>) => Promise<Key>,
  ) {
    if (secrets.length === 0) throw new Error("a keyring needs at least one secret");
    this.opening = Promise.all(
      secrets.map(async (secret) => prepare(await deriveKey(secret, purpose))),
    );
    this.sealing = this.opening.then((keys) => keys[0] as Key);
  }

  /** The first `open(key)` that succeeds; the last failure when none does. */
  async openWithAny<T>(open: (key: Key) => Promise<T>): Promise<T> {
    let failure: unknown;
    for (const key of await this.opening) {
      try {
        return await open(key);
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }
}

/** A 256-bit key for one purpose, derived from a secret with HKDF-SHA-256. */
async function deriveKey(secret: Uint8Array, purpose: string): Promise<Uint8Array<ArrayBuffer>> {
  const material = await crypto.subtle.importKey("raw", new Uint8Array(secret), "HKDF", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(),
      info: new TextEncoder().encode(purpose),
    },
    material,
    256,
  );
  return new Uint8Array(bits);
}
