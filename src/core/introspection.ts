/**
 * Opaque IdP access tokens (docs/guards.md "Opaque access tokens"): a token the app
 * cannot verify itself is sent to the IdP's RFC 7662 introspection endpoint,
 * and the answer is held to the same rules as a verified JWT: active, for
 * this app's audience, from this issuer, not expired, with a subject.
 *
 * Caching: an active answer is noted as trusted for `introspectionMaxAgeMs`
 * (never past `exp`), which the guards' token cache honours (token-cache.ts);
 * an inactive answer is remembered here for at most INACTIVE_MAX_AGE_MS, so
 * that a flood of dead tokens does not become a flood of IdP calls. Both are
 * keyed by the SHA-256 of the whole token. Concurrent checks of one token
 * share a single IdP call.
 */
import type { IDToken } from "./claims.ts";
import { type AuthError, unauthorized } from "./errors.ts";
import type { IdentityProvider } from "./idp.ts";
import { noteTrustedUntil } from "./keyset.ts";
import type { ResolvedOptions } from "./options.ts";
import { tokenHash } from "./token-cache.ts";

/** Longest time an inactive answer is reused: a token the IdP just issued may be refused briefly at most this long. */
export const INACTIVE_MAX_AGE_MS = 5000;
/** Most inactive answers remembered (oldest out first). */
const INACTIVE_MAX_ENTRIES = 10_000;

type Answer = Record<string, unknown>;

export class IntrospectionCheck {
  /** Token hash → `Date.now()` until which it counts as inactive without asking. */
  private readonly inactive = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<IDToken>>();
  private readonly inactiveMaxAgeMs: number;

  constructor(
    private readonly idp: IdentityProvider,
    private readonly options: ResolvedOptions,
  ) {
    this.inactiveMaxAgeMs = Math.min(INACTIVE_MAX_AGE_MS, options.introspectionMaxAgeMs);
  }

  /** Whether this token goes to the IdP rather than to JWT verification. */
  handles(token: string): boolean {
    const mode = this.options.idpAccessTokens;
    // RFC 7515 §7.1: a JWS in compact serialization has exactly three dot-separated parts.
    return mode === "introspection" || (mode === "auto" && token.split(".").length !== 3);
  }

  /** The token's claims from the IdP's answer; 401 when it is not acceptable, 503 when the IdP cannot answer. */
  async claims(token: string): Promise<IDToken> {
    const key = await tokenHash(token);
    const until = this.inactive.get(key);
    if (until !== undefined) {
      if (Date.now() < until) throw inactiveToken();
      this.inactive.delete(key);
    }
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    const check = this.ask(token, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    return check;
  }

  private async ask(token: string, key: string): Promise<IDToken> {
    // Taken before the call, so that the answer's age bound counts the call's time.
    const startedAt = Date.now();
    const answer = (await this.idp.introspect(token)) as Answer;
    const problem = await this.problemWith(answer);
    if (problem !== undefined) {
      this.rememberInactive(key, startedAt);
      throw problem;
    }
    const { active: _active, token_type: _type, ...claims } = answer;
    noteTrustedUntil(claims, startedAt + this.options.introspectionMaxAgeMs);
    return claims as IDToken;
  }

  /** What makes an answer unacceptable, checked as bearer.ts checks a JWT's claims. */
  private async problemWith(answer: Answer): Promise<AuthError | undefined> {
    // RFC 7662 §2.2: anything but `active: true` means the token is not to be accepted.
    if (answer.active !== true) return inactiveToken();
    // Refresh tokens are active too (oidc-provider answers them without token_type),
    // and a DPoP-bound token must not pass as a bearer token (RFC 9449 §7.2).
    const type = answer.token_type;
    if (type !== undefined && (typeof type !== "string" || type.toLowerCase() !== "bearer")) {
      return unauthorized("The token is not a bearer access token.");
    }
    if (!audienceIncludes(answer.aud, this.options.audience)) {
      return unauthorized('The token\'s "aud" claim is not acceptable.');
    }
    if (answer.iss !== undefined && answer.iss !== (await this.idp.issuer())) {
      return unauthorized('The token\'s "iss" claim is not acceptable.');
    }
    const now = Math.floor(Date.now() / 1000);
    const tolerance = this.options.clockToleranceSeconds;
    if (
      answer.exp !== undefined &&
      !(typeof answer.exp === "number" && answer.exp > now - tolerance)
    ) {
      return unauthorized("The token has expired.");
    }
    if (
      answer.nbf !== undefined &&
      !(typeof answer.nbf === "number" && answer.nbf <= now + tolerance)
    ) {
      return unauthorized('The token\'s "nbf" claim is not acceptable.');
    }
    if (typeof answer.sub !== "string" || answer.sub === "") {
      return unauthorized('The token\'s "sub" claim is not acceptable.');
    }
    return undefined;
  }

  private rememberInactive(key: string, startedAt: number): void {
    if (this.inactive.size >= INACTIVE_MAX_ENTRIES) {
      const oldest = this.inactive.keys().next();
      if (oldest.done !== true) this.inactive.delete(oldest.value);
    }
    this.inactive.set(key, startedAt + this.inactiveMaxAgeMs);
  }
}

const inactiveToken = () => unauthorized("The token is not active.");

/** RFC 7662 §2.2 `aud`: a string or an array of strings, which must name this app's audience. */
function audienceIncludes(aud: unknown, audience: string): boolean {
  return aud === audience || (Array.isArray(aud) && aud.includes(audience));
}
