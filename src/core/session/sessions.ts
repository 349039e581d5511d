/**
 * Browser sessions (docs/browser-sessions.md "Browser sessions"): the login bound to the
 * browser that started it, and the session cookie the callback sets and
 * the guards read. What a session holds is the token mode's token JSON
 * (the IdP's tokens in passthrough mode, the broker's in broker mode), so
 * a session is checked exactly as a bearer token is, and refreshed through
 * the same `TokenMode.refresh` (in broker mode: its exactly-once rotation).
 */
import type { JWTPayload } from "jose";
import { AuthError, badRequest } from "../errors.ts";
import type { BrowserRequest } from "../http.ts";
import { nowSeconds } from "../time.ts";
import type { TokenMode } from "../token-mode.ts";
import type { TokenResponseBody } from "../token-response.ts";
import {
  type CookieScope,
  clearChunked,
  clearCookie,
  cookieName,
  parseCookies,
  readChunked,
  setCookie,
  writeChunked,
} from "./cookies.ts";
import type { ResolvedSessionOptions } from "./options.ts";
import { RefreshOnce } from "./refresh-once.ts";
import { cookieScope, sameOriginProof } from "./request-origin.ts";
import { SealedValues } from "./sealed.ts";

/** What the login cookie binds: the login's state id, its PKCE verifier and nonce, and where to go after. */
export interface LoginBinding {
  stateId: string;
  verifier: string;
  nonce: string;
  returnTo: string;
}

/** What a guard learns from a request's session cookie. */
export type SessionLookup =
  | { kind: "none" }
  /** The cookie is unreadable, expired, revoked or its tokens cannot be renewed: these cookies clear it. */
  | { kind: "ended"; cookies: string[] }
  /** A live session on an unsafe request without a same-origin proof. */
  | { kind: "cross-site" }
  | { kind: "live"; tokens: TokenResponseBody; expiresAt: number; cookies: string[] };

export interface SessionSettings extends ResolvedSessionOptions {
  store: "cookie" | "broker";
  loginTimeoutSeconds: number;
}

/** Seconds before its expiry at which an access token is renewed, at most. */
const RENEW_BEFORE_SECONDS = 30;

export class BrowserSessions {
  private readonly sessions: SealedValues;
  private readonly logins: SealedValues;
  private readonly refreshes: RefreshOnce;

  constructor(
    secrets: readonly Uint8Array[],
    readonly settings: SessionSettings,
    private readonly mode: TokenMode,
  ) {
    this.sessions = new SealedValues(secrets, "ts-oidc-auth browser session v1");
    this.logins = new SealedValues(secrets, "ts-oidc-auth login binding v1");
    this.refreshes = new RefreshOnce((token) => mode.refresh(token));
  }

  /** The `Set-Cookie` of the short-lived login cookie (docs/browser-sessions.md "Browser sessions"). */
  async bindLogin(binding: LoginBinding, browser: BrowserRequest | undefined): Promise<string> {
    const scope = cookieScope(browser);
    const ttl = this.settings.loginTimeoutSeconds;
    const sealed = await this.logins.seal(
      { s: binding.stateId, v: binding.verifier, n: binding.nonce, r: binding.returnTo },
      nowSeconds() + ttl,
    );
    return setCookie(this.loginCookieName(scope), sealed, ttl, scope);
  }

  /** The login cookie's binding, which must be the one of `stateId`; 400 otherwise. */
  async openLogin(browser: BrowserRequest | undefined, stateId: string): Promise<LoginBinding> {
    const scope = cookieScope(browser);
    const sealed = parseCookies(browser?.cookie).get(this.loginCookieName(scope));
    if (sealed === undefined) {
      throw badRequest(
        "This login was not started in this browser (no login cookie); start the login again.",
        "invalid_grant",
      );
    }
    const payload = await this.logins.open(sealed);
    const { s, v, n, r } = payload ?? {};
    if (typeof s !== "string" || typeof v !== "string" || typeof n !== "string") {
      throw badRequest(
        "The login cookie is invalid or expired; start the login again.",
        "invalid_grant",
      );
    }
    if (s !== stateId || typeof r !== "string") {
      throw badRequest(
        "The login cookie belongs to another login; start the login again.",
        "invalid_grant",
      );
    }
    return { stateId: s, verifier: v, nonce: n, returnTo: r };
  }

  clearLogin(browser: BrowserRequest | undefined): string {
    const scope = cookieScope(browser);
    return clearCookie(this.loginCookieName(scope), scope);
  }

  /** The `Set-Cookie` values of a new session holding the mode's token JSON. */
  async establish(
    tokens: TokenResponseBody,
    browser: BrowserRequest | undefined,
  ): Promise<string[]> {
    return this.write(tokens, nowSeconds(), browser);
  }

  /**
   * The session of a request, renewed (tokens refreshed, lifetime rolled)
   * where due; with `renew` false (where no cookie can be written, e.g. a
   * Next.js Server Component) only read: a refresh whose new cookie would be
   * lost would spend the refresh token for nothing.
   */
  async lookup(
    method: string,
    browser: BrowserRequest | undefined,
    renew = true,
  ): Promise<SessionLookup> {
    const scope = cookieScope(browser);
    const cookies = parseCookies(browser?.cookie);
    const name = cookieName(this.settings.cookieName, scope);
    const sealed = readChunked(cookies, name);
    if (sealed === undefined) return { kind: "none" };
    const ended: SessionLookup = { kind: "ended", cookies: clearChunked(cookies, name, scope) };
    const session = sessionFrom(await this.sessions.open(sealed));
    if (session === undefined) return ended;
    if (!sameOriginProof(method, browser)) return { kind: "cross-site" };
    let { tokens } = session;
    const now = nowSeconds();
    let rolled = renew && now - session.issuedAt >= Math.min(60, this.settings.rollingSeconds / 2);
    if (renew && dueForRefresh(tokens, session.tokensAt, now)) {
      const refreshed = await this.refreshed(tokens);
      if (refreshed === undefined) return ended;
      tokens = refreshed;
      rolled = true;
    }
    if (this.settings.store === "broker" && !(await this.isLive(tokens.access_token))) return ended;
    const expiresAt = Math.min(
      session.createdAt + this.settings.absoluteSeconds,
      now + this.settings.rollingSeconds,
    );
    return {
      kind: "live",
      tokens,
      expiresAt: rolled ? expiresAt : session.expiresAt,
      cookies: rolled
        ? await this.write(
            tokens,
            session.createdAt,
            browser,
            tokens === session.tokens ? session.tokensAt : now,
          )
        : [],
    };
  }

  /** Logout: what the store holds is revoked, the cookies cleared; the ID token, for the IdP's logout hint. */
  async end(browser: BrowserRequest | undefined): Promise<{ cookies: string[]; idToken?: string }> {
    const scope = cookieScope(browser);
    const cookies = parseCookies(browser?.cookie);
    const name = cookieName(this.settings.cookieName, scope);
    const sealed = readChunked(cookies, name);
    const cleared = { cookies: clearChunked(cookies, name, scope) };
    if (sealed === undefined) return cleared;
    const session = sessionFrom(await this.sessions.open(sealed));
    if (session === undefined) return cleared;
    // Both tokens: broker mode ends the session either names (RFC 7009 §2.1).
    await this.mode.revoke(session.tokens.access_token);
    const refreshToken = session.tokens.refresh_token;
    if (refreshToken !== undefined)
      await this.mode.lifecycle?.revokeToken(refreshToken, "refresh_token");
    const idToken = session.tokens.id_token;
    return idToken === undefined ? cleared : { ...cleared, idToken };
  }

  private async write(
    tokens: TokenResponseBody,
    createdAt: number,
    browser: BrowserRequest | undefined,
    tokensAt = nowSeconds(),
  ): Promise<string[]> {
    const scope = cookieScope(browser);
    const now = nowSeconds();
    const expiresAt = Math.min(
      createdAt + this.settings.absoluteSeconds,
      now + this.settings.rollingSeconds,
    );
    const sealed = await this.sessions.seal({ t: tokens, c: createdAt, ta: tokensAt }, expiresAt);
    const name = cookieName(this.settings.cookieName, scope);
    return writeChunked(parseCookies(browser?.cookie), name, sealed, expiresAt - now, scope);
  }

  /** New tokens for a session, or undefined when its refresh token is gone, spent or refused. */
  private async refreshed(tokens: TokenResponseBody): Promise<TokenResponseBody | undefined> {
    const refreshToken = tokens.refresh_token;
    if (refreshToken === undefined) return undefined;
    try {
      const answer = await this.refreshes.run(refreshToken);
      // RFC 6749 §6: an IdP may keep the refresh token and send none back.
      return answer.refresh_token === undefined
        ? { ...answer, refresh_token: refreshToken }
        : answer;
    } catch (error) {
      // 400 invalid_grant and 401: the session is over; an outage (503) is not.
      if (error instanceof AuthError && (error.status === 400 || error.status === 401))
        return undefined;
      throw error;
    }
  }

  /** Broker store: whether the broker session of the access token still exists. */
  private async isLive(accessToken: string): Promise<boolean> {
    const lifecycle = this.mode.lifecycle;
    if (lifecycle === undefined) return true;
    return (await lifecycle.introspect(accessToken, "access_token")).active;
  }

  private loginCookieName(scope: CookieScope): string {
    return cookieName(`${this.settings.cookieName}-login`, scope);
  }
}

interface OpenedSession {
  tokens: TokenResponseBody;
  createdAt: number;
  tokensAt: number;
  issuedAt: number;
  expiresAt: number;
}

function sessionFrom(payload: JWTPayload | undefined): OpenedSession | undefined {
  if (payload === undefined) return undefined;
  const { t, c, ta, iat, exp } = payload;
  if (typeof c !== "number" || typeof ta !== "number" || typeof iat !== "number") return undefined;
  if (typeof exp !== "number" || typeof t !== "object" || t === null) return undefined;
  const tokens = t as TokenResponseBody;
  if (typeof tokens.access_token !== "string" || typeof tokens.expires !== "number")
    return undefined;
  return { tokens, createdAt: c, tokensAt: ta, issuedAt: iat, expiresAt: exp };
}

/** Renewed a little before expiry (a quarter of its lifetime, at most 30 s), so the token handed out still works downstream. */
function dueForRefresh(tokens: TokenResponseBody, tokensAt: number, now: number): boolean {
  const margin = Math.min(RENEW_BEFORE_SECONDS, Math.max(0, (tokens.expires - tokensAt) / 4));
  return now >= tokens.expires - margin;
}
