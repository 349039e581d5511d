/**
 * Passthrough mode: the app relays the IdP's tokens. Logins and refreshes
 * answer the IdP's token JSON, bearer tokens are the IdP's (checked against
 * its JWKS), and there is nothing to revoke or publish.
 */
import type { TokenVerifier } from "./bearer.ts";
import type { IDToken } from "./claims.ts";
import type { IdentityProvider, TokenSet } from "./idp.ts";
import { describeError, type Logger } from "./log.ts";
import type { TokenMode } from "./token-mode.ts";
import { tokenResponseBody } from "./token-response.ts";
import { hasProfile } from "./userinfo-fields.ts";

export class PassthroughMode implements TokenMode {
  readonly mintsTokens = false;

  constructor(
    private readonly idp: IdentityProvider,
    private readonly verifier: TokenVerifier,
    private readonly logger: Logger,
  ) {}

  async issue(tokens: TokenSet) {
    return tokenResponseBody(tokens);
  }

  async refresh(refreshToken: string) {
    return tokenResponseBody(await this.idp.refresh(refreshToken));
  }

  verify(token: string): Promise<IDToken> {
    return this.verifier.verify(token);
  }

  verifyNow(token: string): IDToken | undefined {
    return this.verifier.verifyNow(token);
  }

  async revoke(): Promise<void> {}

  /** The token's claims, completed by the IdP's userinfo endpoint when they lack the profile. */
  async userClaims(claims: IDToken, accessToken: string): Promise<Record<string, unknown>> {
    if (hasProfile(claims)) return claims;
    try {
      return { ...(await this.idp.userinfo(accessToken, String(claims.sub))), ...claims };
    } catch (error) {
      // The token's own claims still answer; the IdP's extra ones are a bonus.
      this.logger.warn(`IdP userinfo unavailable: ${describeError(error)}`);
      return claims;
    }
  }
}
