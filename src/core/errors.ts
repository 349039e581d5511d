/**
 * Every error the library returns is an `AuthError`: an HTTP status plus the
 * OAuth 2.0 error fields (RFC 6749 §5.2) and the `detail` text that
 * py-oidc-auth clients read. Messages are written here, never copied from the
 * IdP or from exceptions, so no token, secret or raw IdP text can leak.
 */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    /** The `WWW-Authenticate` value of a 401 when it must differ from the usual one. */
    readonly challenge?: string,
  ) {
    super(description);
    this.name = "AuthError";
  }

  toJSON(): ErrorBody {
    return { error: this.error, error_description: this.description, detail: this.description };
  }
}

export interface ErrorBody {
  error: string;
  error_description: string;
  detail: string;
}

export const badRequest = (description: string, error = "invalid_request") =>
  new AuthError(400, error, description);

export const unauthorized = (description: string, error = "invalid_token") =>
  new AuthError(401, error, description);

/** RFC 6750 §3.1: a request without credentials gets a challenge without an error code. */
export const missingToken = () =>
  new AuthError(401, "invalid_token", "A valid bearer token is required.", "Bearer");

export const forbidden = (description: string) =>
  new AuthError(403, "insufficient_scope", description);

export const unavailable = (description: string) =>
  new AuthError(503, "temporarily_unavailable", description);

/** An OAuth error code from outside, if it looks like one; else a generic one. */
export function safeErrorCode(code: string): string {
  return /^[a-z_]{1,64}$/.test(code) ? code : "invalid_request";
}
