/**
 * Talking to an app with the py-oidc-auth endpoints (ts-oidc-auth or
 * py-oidc-auth itself). Field names are the ones both accept: py-oidc-auth's
 * token endpoint reads `refresh-token` and `device-code` (form aliases) and
 * `code`, `redirect_uri`, `code_verifier`; ts-oidc-auth reads those too.
 */
import { DEFAULT_PATHS } from "../core/paths.ts";
import { AuthClientError } from "./errors.ts";

export interface AuthPaths {
  login: string;
  token: string;
  device: string;
  logout: string;
}

export const DEFAULT_AUTH_PATHS: AuthPaths = {
  login: DEFAULT_PATHS.login,
  token: DEFAULT_PATHS.token,
  device: DEFAULT_PATHS.deviceFlow,
  logout: DEFAULT_PATHS.logout,
};

export type Endpoints = Record<keyof AuthPaths, URL>;

/** The endpoint URLs below `host` (which may carry the router prefix, e.g. `https://app/api`). */
export function endpointsOf(host: string, paths: Partial<AuthPaths> = {}): Endpoints {
  const base = host.replace(/\/+$/, "");
  const all = { ...DEFAULT_AUTH_PATHS, ...paths };
  return {
    login: new URL(base + all.login),
    token: new URL(base + all.token),
    device: new URL(base + all.device),
    logout: new URL(base + all.logout),
  };
}

export type Json = Record<string, unknown>;

/** POSTs a form and returns the JSON answer; a 4xx/5xx becomes an AuthClientError with its OAuth error code. */
export async function postForm(
  url: URL,
  fields: Record<string, string>,
  timeoutMs: number,
): Promise<Json> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams(fields),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new AuthClientError(`Cannot reach ${url.origin}: ${causeOf(error)}`);
  }
  const body = await readJson(response);
  if (response.ok && body !== undefined) return body;
  if (response.ok) throw new AuthClientError(`${url.href} did not answer with JSON.`);
  throw errorOf(url, response.status, body);
}

/** The error an app's non-2xx answer means. */
export async function errorFromResponse(url: URL, response: Response): Promise<AuthClientError> {
  return errorOf(url, response.status, await readJson(response));
}

async function readJson(response: Response): Promise<Json | undefined> {
  const text = await response.text();
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Json)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * ts-oidc-auth answers `{error, error_description, detail}`; py-oidc-auth
 * (FastAPI) answers `{detail}` where `detail` is a message or an object with
 * `error`. Only these fields are used, never the raw body.
 */
function errorOf(url: URL, status: number, body: Json | undefined): AuthClientError {
  const detail = body?.detail;
  const nested = typeof detail === "object" && detail !== null ? (detail as Json) : undefined;
  const code = text(body?.error) ?? text(nested?.error);
  const details = { status, ...(code === undefined ? {} : { error: code }) };
  if (status === 404 && !isOAuthCode(code)) return new AuthClientError(notFound(url), details);
  const message =
    text(body?.error_description) ?? text(nested?.error_description) ?? text(detail) ?? code;
  const said = message === undefined ? `HTTP ${status}` : `${message} (HTTP ${status})`;
  return new AuthClientError(`${url.pathname}: ${said}`, details);
}

/**
 * A 404 without an OAuth error is no auth endpoint at all: most often the
 * host lacks the router's prefix (README: Command-line client), since the
 * endpoints live below it, e.g. `/api/auth/v2/…`.
 */
function notFound(url: URL): string {
  const found = `${url.origin} has no ${url.pathname} (HTTP 404).`;
  if (/^\/auth\//.test(url.pathname)) {
    return (
      `${found} The host must include the auth router's prefix: probably ${url.origin}/api ` +
      "(or the app's own prefix), not just the origin."
    );
  }
  return `${found} Check that the host is the app's URL with its auth router's prefix.`;
}

/** OAuth error codes (RFC 6749 §5.2) are snake_case; NestJS's 404 says `error: "Not Found"`. */
function isOAuthCode(code: string | undefined): boolean {
  return code !== undefined && /^[a-z][a-z0-9_]*$/.test(code);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value.slice(0, 300) : undefined;
}

export function causeOf(error: unknown): string {
  if (error instanceof Error && error.cause instanceof Error) return error.cause.message;
  return error instanceof Error ? error.message : String(error);
}
