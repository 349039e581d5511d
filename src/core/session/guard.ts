/**
 * Guards that accept a browser session besides bearer tokens (README
 * "Browser sessions"). A bearer token wins when present; else the session's
 * access token goes through the very same bearer guard (verification,
 * cache, requirement), so a session proves exactly what its token proves.
 */
import type { IDToken } from "../claims.ts";
import { AuthError } from "../errors.ts";
import type { Guard, GuardOutcome } from "../guard.ts";
import { type BrowserRequest, errorResponse } from "../http.ts";
import type { RequestOrigin } from "../resource-metadata.ts";
import type { BrowserSessions } from "./sessions.ts";

/** The session behind a request, as adapters hand it to the app. */
export interface BrowserSession {
  /** The claims of the session's access token (the same object as the guard's token). */
  readonly claims: IDToken;
  /** Unix seconds at which the session ends unless used again. */
  readonly expiresAt: number;
  /** The session's access token, renewed by the guard when it was about to expire, for calls to downstream APIs. */
  accessToken(): Promise<string>;
}

const crossSite = () =>
  new AuthError(
    403,
    "invalid_request",
    "A request that changes something needs a same-origin proof (Sec-Fetch-Site or Origin) when a session cookie authenticates it.",
  );

/**
 * With `renew` false the session is only read (see `BrowserSessions.lookup`).
 * `publicView` puts the app's public origin into the browser's request.
 */
export function sessionGuard(
  bearer: Guard,
  sessions: BrowserSessions,
  toAuthError: (error: unknown) => AuthError,
  publicView: (browser: BrowserRequest) => BrowserRequest,
  renew = true,
): Guard {
  const bySession = async (
    browser: BrowserRequest,
    origin: RequestOrigin | undefined,
  ): Promise<GuardOutcome> => {
    let found: Awaited<ReturnType<BrowserSessions["lookup"]>>;
    try {
      found = await sessions.lookup(browser.method, browser, renew);
    } catch (error) {
      return { kind: "denied", response: errorResponse(toAuthError(error)) };
    }
    if (found.kind === "none") return bearer(undefined, origin);
    if (found.kind === "cross-site")
      return { kind: "denied", response: errorResponse(crossSite()) };
    if (found.kind === "ended") return withCookies(await bearer(undefined, origin), found.cookies);
    const { tokens, expiresAt, cookies } = found;
    const outcome = await bearer(`Bearer ${tokens.access_token}`, origin);
    if (outcome.kind !== "token") return withCookies(outcome, cookies);
    const session: BrowserSession = {
      claims: outcome.token,
      expiresAt,
      accessToken: async () => tokens.access_token,
    };
    return { ...outcome, session, cookies };
  };
  // A bearer token wins, and takes the bearer guard's path unchanged (without a promise where it can).
  return (authorization, origin, browser) =>
    authorization !== undefined || browser === undefined
      ? bearer(authorization, origin)
      : bySession(publicView(browser()), origin);
}

function withCookies(outcome: GuardOutcome, cookies: string[]): GuardOutcome {
  if (cookies.length === 0) return outcome;
  if (outcome.kind === "denied") {
    return {
      kind: "denied",
      response: { ...outcome.response, cookies: [...(outcome.response.cookies ?? []), ...cookies] },
    };
  }
  return { ...outcome, cookies: [...(outcome.cookies ?? []), ...cookies] };
}
