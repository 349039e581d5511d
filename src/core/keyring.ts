/**
 * The keys of one purpose (login state, stored secrets, signing keys at
 * rest), derived with HKDF (RFC 5869) from each configured secret, newest
 * first: the first seals, every one opens, so a secret can be rotated by
 * putting the new one in front (README "Configuration", `secret`).
 */
export class Keyring {
  /** The key that seals. */
  readonly sealing: Promise<Uint8Array>;
  /** Every key that opens, the sealing one first. */
  readonly opening: Promise<Uint8Array[]>;

  constructor(secrets: readonly Uint8Array[], purpose: string) {
    if (secrets.length === 0) throw new Error("a keyring needs at least one secret");
    this.opening = Promise.all(secrets.map((secret) => deriveKey(secret, purpose)));
    this.sealing = this.opening.then((keys) => keys[0] as Uint8Array);
  }

  /** The first `open(key)` that succeeds; the last failure when none does. */
  async openWithAny<T>(open: (key: Uint8Array) => Promise<T>): Promise<T> {
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
async function deriveKey(secret: Uint8Array, purpose: string): Promise<Uint8Array> {
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
