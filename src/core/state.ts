/**
 * Login state (docs/security.md "Login state and PKCE"). py-oidc-auth's `state` is
 * `<random>|<redirect_uri>|<verifier>` and its command-line client posts the
 * part after the last `|` as `code_verifier`. We keep that shape, but the
 * last part is sealed: an encrypted, expiring JWT (jose, dir + A256GCM)
 * holding the PKCE verifier, the nonce and the redirect URI, so no plain
 * verifier ever travels in a URL, and the token endpoint accepts the sealed
 * form as `code_verifier`. Each sealed state is good for one code exchange.
 */
import { EncryptJWT, errors as joseErrors, jwtDecrypt } from "jose";
import { AuthError, badRequest } from "./errors.ts";
import { Keyring } from "./keyring.ts";

export interface LoginState {
  /** Unique id of this login, for single use. */
  id: string;
  redirectUri: string;
  nonce: string;
  /** The PKCE verifier; absent when the client holds its own (RFC 8252). */
  verifier?: string | undefined;
  /**
   * A browser login (docs/browser-sessions.md "Browser sessions"): the verifier is in the
   * browser's login cookie, not here, so only the callback in that browser
   * can finish it.
   */
  browserBound?: boolean;
  /** Expiry, unix seconds. */
  expiresAt: number;
}

/** Records ids as used; `useOnce` is true only the first time. */
export interface UsedOnceRegistry {
  useOnce(id: string, expiresAt: number): Promise<boolean>;
}

export class LoginStateSealer {
  private readonly keys: Keyring<CryptoKey>;

  constructor(
    secrets: readonly Uint8Array[],
    private readonly ttlSeconds: number,
    private readonly used: UsedOnceRegistry,
  ) {
    this.keys = Keyring.forJwe(secrets, "ts-oidc-auth login state v1");
  }

  /** The `state` parameter for the authorization request. */
  async seal(state: Omit<LoginState, "expiresAt">): Promise<string> {
    const sealed = await new EncryptJWT({
      r: state.redirectUri,
      n: state.nonce,
      v: state.verifier,
      ...(state.browserBound ? { b: true } : {}),
    })
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setJti(state.id)
      .setExpirationTime(`${this.ttlSeconds}s`)
      .encrypt(await this.keys.sealing);
    return `${state.id}|${state.redirectUri}|${sealed}`;
  }

  /** Whether a `code_verifier` is our sealed form rather than a plain RFC 7636 verifier. */
  static isSealed(codeVerifier: string): boolean {
    // A plain verifier is 43-128 characters of [A-Za-z0-9-._~]; a sealed
    // state is always longer than 128.
    return codeVerifier.length > 128;
  }

  /** Opens a full `state` or just its sealed last part, and marks it used. */
  async open(stateOrSealed: string): Promise<LoginState> {
    const sealed = stateOrSealed.slice(stateOrSealed.lastIndexOf("|") + 1);
    const state = await this.decrypt(sealed);
    if (!(await this.used.useOnce(state.id, state.expiresAt))) {
      throw badRequest(
        "This login state was already used; start the login again.",
        "invalid_grant",
      );
    }
    return state;
  }

  private async decrypt(sealed: string): Promise<LoginState> {
    try {
      const { payload } = await this.keys.openWithAny((key) =>
        jwtDecrypt(sealed, key, {
          keyManagementAlgorithms: ["dir"],
          contentEncryptionAlgorithms: ["A256GCM"],
        }),
      );
      const { jti, exp, r, n, v, b } = payload;
      if (typeof jti !== "string" || typeof r !== "string" || typeof n !== "string") {
        throw new joseErrors.JWTInvalid("incomplete state");
      }
      if (v !== undefined && typeof v !== "string") throw new joseErrors.JWTInvalid("bad verifier");
      return {
        id: jti,
        redirectUri: r,
        nonce: n,
        verifier: v,
        browserBound: b === true,
        expiresAt: exp ?? 0,
      };
    } catch (error) {
      if (error instanceof AuthError) throw error;
      const expired = error instanceof joseErrors.JWTExpired;
      throw badRequest(
        expired
          ? "The login state has expired; start the login again."
          : "The login state is invalid.",
        "invalid_grant",
      );
    }
  }
}

/**
 * Used ids in this process's memory, bounded: past `maxEntries` expired ids
 * go first, then the oldest. Broker mode uses the shared store instead.
 */
export class MemoryUsedOnceRegistry implements UsedOnceRegistry {
  private readonly used = new Map<string, number>();

  constructor(private readonly maxEntries = 100_000) {}

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const now = Date.now() / 1000;
    const seen = this.used.get(id);
    if (seen !== undefined && seen > now) return false;
    if (this.used.size >= this.maxEntries) this.evict(now);
    this.used.set(id, expiresAt);
    return true;
  }

  private evict(now: number): void {
    for (const [id, expiresAt] of this.used) if (expiresAt <= now) this.used.delete(id);
    while (this.used.size >= this.maxEntries) {
      const oldest = this.used.keys().next().value as string;
      this.used.delete(oldest);
    }
  }
}
