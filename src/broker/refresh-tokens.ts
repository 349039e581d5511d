/**
 * The broker's refresh tokens (docs/broker.md "Running several instances"):
 * `rt.<session id>.<generation>.<random>.<tag>`. The store keeps only the
 * SHA-256 of the live token and of the one still inside the grace window;
 * the generation, counted per session, and an HMAC tag under a key derived
 * from the configured secrets let the broker recognise an older token of
 * the session as genuine when it comes back, so its reuse still revokes the
 * session (OAuth 2.1 §4.3.1) without a row per rotation. The random part
 * keeps tokens unguessable even to someone who knows the secret.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { base64url } from "jose";
import { Keyring } from "../core/keyring.ts";

export interface RefreshTokenName {
  sessionId: string;
  generation: number;
}

const PATTERN = /^rt\.([A-Za-z0-9_-]{16,128})\.(\d{1,15})\.[A-Za-z0-9_-]{22}\.([A-Za-z0-9_-]{22})$/;
const TAG_BYTES = 16;

export class RefreshTokens {
  private readonly keys: Keyring;

  constructor(secrets: readonly Uint8Array[]) {
    this.keys = Keyring.raw(secrets, "ts-oidc-auth refresh tokens v1");
  }

  /** A new token for the session's generation, and its hash (what the store keeps). */
  async issue(name: RefreshTokenName): Promise<{ token: string; hash: string }> {
    const body = `rt.${name.sessionId}.${name.generation}.${randomPart(16)}`;
    const token = `${body}.${base64url.encode(tag(await this.keys.sealing, body))}`;
    return { token, hash: hashToken(token) };
  }

  /** The session and generation a token names, when one of the configured secrets tagged it. */
  async name(token: string): Promise<RefreshTokenName | undefined> {
    const match = PATTERN.exec(token);
    if (match === null) return undefined;
    const [, sessionId, generation, presentedTag] = match as unknown as [
      string,
      string,
      string,
      string,
    ];
    const body = token.slice(0, token.lastIndexOf("."));
    const presented = base64url.decode(presentedTag);
    for (const key of await this.keys.opening) {
      if (timingSafeEqual(tag(key, body), presented)) {
        return { sessionId, generation: Number(generation) };
      }
    }
    return undefined;
  }
}

/**
 * What the store keeps of a refresh token: its SHA-256, synchronous (a Web
 * Crypto job costs more than hashing ~100 bytes).
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

export function randomPart(bytes = 32): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** HMAC-SHA-256 truncated to 128 bits (RFC 2104 §5). */
function tag(key: Uint8Array, body: string): Uint8Array {
  return createHmac("sha256", key).update(body).digest().subarray(0, TAG_BYTES);
}
