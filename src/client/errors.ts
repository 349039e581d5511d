/** Errors of the client. None of their messages ever contains a token. */

/** A login, refresh or token request failed. */
export class AuthClientError extends Error {
  override readonly name: string = "AuthClientError";
  /** The HTTP status of the server's answer, when there was one. */
  readonly status: number | undefined;
  /** The OAuth error code of the server's answer (`invalid_grant`, `access_denied`, …), when given. */
  readonly error: string | undefined;

  constructor(message: string, details: { status?: number; error?: string } = {}) {
    super(message);
    this.status = details.status;
    this.error = details.error;
  }
}

/** No usable token is stored and this process cannot start a login (no interactive terminal). */
export class LoginRequiredError extends AuthClientError {
  override readonly name = "LoginRequiredError";
}

/** The token store file cannot be read as a token store; it is left as it is. */
export class TokenStoreError extends AuthClientError {
  override readonly name = "TokenStoreError";

  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}
