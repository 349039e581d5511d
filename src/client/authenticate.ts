/**
 * `authenticate()`: a cached valid token, else a refreshed one, else a new
 * login (browser or device flow) — the counterpart of py-oidc-auth-client's
 * `authenticate`. `logout()` ends the session at the app and forgets the token.
 */
import { browserLogin } from "./browser.ts";
import { deviceLogin, type WaitOptions } from "./device.ts";
import { canOpenBrowser, isInteractive, openSystemBrowser } from "./environment.ts";
import { AuthClientError, LoginRequiredError } from "./errors.ts";
import { type LoginReporter, stderrReporter } from "./reporter.ts";
import { type AuthPaths, causeOf, type Endpoints, endpointsOf, postForm } from "./server.ts";
import { hostKey, TokenStore } from "./store.ts";
import {
  nowSeconds,
  type StoredToken,
  type Token,
  tokenFromAccessToken,
  tokenFromResponse,
  withHeaders,
} from "./token.ts";

/** The environment variable whose access token `authenticate()` uses as it is, when set. */
export const TOKEN_ENV_VAR = "TS_OIDC_AUTH_TOKEN";

export type LoginFlow = "auto" | "browser" | "device";

export interface ConnectionOptions {
  /** The app's base URL including the auth router's prefix, e.g. `https://app.example.org/api`. */
  host: string;
  /** Paths of the endpoints below `host`; default `/auth/v2/login`, `/auth/v2/token`, … */
  paths?: Partial<AuthPaths>;
  /** Where tokens are kept; default the per-user file (`defaultTokenStorePath()`). */
  store?: TokenStore;
  /** Timeout of each HTTP request, milliseconds. Default 30000. */
  requestTimeoutMs?: number;
}

export interface AuthenticateOptions extends ConnectionOptions {
  /** Log in again even when a usable token is stored. */
  force?: boolean;
  /** Whether a login may start. Default: stdin and stderr are terminals and no batch system or CI runs us. */
  interactive?: boolean;
  /** `auto` (default): the browser when one can open here (a desktop), else the device flow. */
  flow?: LoginFlow;
  /** Opens the login URL in a browser. Default: the system browser (`xdg-open`, `open`, `$BROWSER`). */
  openBrowser?: (url: string) => void | Promise<void>;
  /** Loopback ports for the browser login, first free wins; 0 = any. Default 53100–53105, as py-oidc-auth-client. */
  redirectPorts?: number[];
  /** Host of the loopback redirect URI. Default `localhost`. */
  redirectHost?: string;
  /** `prompt` for the browser login. Default `consent`, as py-oidc-auth-client. */
  prompt?: "login" | "consent" | "select_account" | "none";
  /** Longest wait for the person to log in, milliseconds. Default 300000. */
  loginTimeoutMs?: number;
  /** A stored access token with less validity left than this is refreshed first. Default 60. */
  minValiditySeconds?: number;
  /** Instructions and the wait indicator. Default: on stderr. */
  reporter?: LoginReporter;
  /** Cancels a login in progress. */
  signal?: AbortSignal;
  /** Environment variable with an access token that wins over everything; `null` switches it off. Default `TS_OIDC_AUTH_TOKEN`. */
  tokenEnvVar?: string | null;
}

const DEFAULT_REDIRECT_PORTS = [53100, 53101, 53102, 53103, 53104, 53105];
/** A refresh token this close to its expiry is not worth trying. */
const REFRESH_MARGIN_SECONDS = 10;

/** A token for `host`: the stored one, a refreshed one, or one from a new login. */
export async function authenticate(options: AuthenticateOptions): Promise<Token> {
  const fromEnvironment = environmentToken(options);
  if (fromEnvironment) return withHeaders(fromEnvironment);
  const host = hostKey(options.host);
  const store = options.store ?? new TokenStore();
  const endpoints = endpointsOf(host, options.paths);
  const stored = options.force ? undefined : await store.get(host);
  const now = nowSeconds();
  if (stored && stored.expires - now > (options.minValiditySeconds ?? 60)) {
    return withHeaders(stored);
  }
  if (stored && canRefresh(stored, now)) {
    const refreshed = await tryRefresh(endpoints, stored, options);
    if (refreshed) return withHeaders(await save(store, host, refreshed));
    await store.remove(host);
  }
  if (!(options.interactive ?? isInteractive())) throw loginRequired(host, options.tokenEnvVar);
  return withHeaders(await save(store, host, await login(endpoints, options)));
}

/**
 * Ends the session: the app's `/logout` with the token (a ts-oidc-auth broker
 * revokes its session then), and the stored token is forgotten. The IdP's
 * own browser session is not touched. Returns whether a token was stored.
 */
export async function logout(options: ConnectionOptions): Promise<boolean> {
  const host = hostKey(options.host);
  const store = options.store ?? new TokenStore();
  const stored = await store.get(host);
  if (!stored) return false;
  if (stored.expires > nowSeconds()) {
    await revoke(endpointsOf(host, options.paths).logout, stored, options.requestTimeoutMs);
  }
  return store.remove(host);
}

function environmentToken(options: AuthenticateOptions): StoredToken | undefined {
  const name = options.tokenEnvVar === undefined ? TOKEN_ENV_VAR : options.tokenEnvVar;
  const value = name === null ? undefined : process.env[name]?.trim();
  return value ? tokenFromAccessToken(value) : undefined;
}

function canRefresh(token: StoredToken, now: number): boolean {
  if (token.refresh_token === undefined) return false;
  return (
    token.refresh_expires === undefined || token.refresh_expires - now > REFRESH_MARGIN_SECONDS
  );
}

/** The refreshed token, or undefined when the server refuses the refresh token (log in again). */
async function tryRefresh(
  endpoints: Endpoints,
  stored: StoredToken,
  options: ConnectionOptions,
): Promise<StoredToken | undefined> {
  try {
    const body = await postForm(
      endpoints.token,
      { "refresh-token": stored.refresh_token ?? "" },
      options.requestTimeoutMs ?? 30_000,
    );
    return tokenFromResponse(body);
  } catch (error) {
    // 400/401: expired, revoked or reused. Anything else (server down) is not a reason to log in again.
    if (error instanceof AuthClientError && (error.status === 400 || error.status === 401)) {
      return undefined;
    }
    throw error;
  }
}

async function login(endpoints: Endpoints, options: AuthenticateOptions): Promise<StoredToken> {
  const wait: WaitOptions = {
    reporter: options.reporter ?? stderrReporter(),
    timeoutMs: options.loginTimeoutMs ?? 300_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    signal: options.signal,
  };
  const flow = options.flow ?? "auto";
  const useBrowser = flow === "browser" || (flow === "auto" && canOpenBrowser());
  try {
    const body = useBrowser
      ? await browserLogin(endpoints, {
          ...wait,
          openBrowser: options.openBrowser ?? openSystemBrowser,
          redirectPorts: options.redirectPorts ?? DEFAULT_REDIRECT_PORTS,
          redirectHost: options.redirectHost ?? "localhost",
          prompt: options.prompt ?? "consent",
        })
      : await deviceLogin(endpoints, wait);
    return tokenFromResponse(body);
  } catch (error) {
    if (options.signal?.aborted) throw new AuthClientError("The login was cancelled.");
    throw error;
  }
}

async function save(store: TokenStore, host: string, token: StoredToken): Promise<StoredToken> {
  await store.put(host, token);
  return token;
}

/** Best effort: the token is forgotten here whether or not the app could be told. */
async function revoke(url: URL, token: StoredToken, timeoutMs = 30_000): Promise<void> {
  try {
    const response = await fetch(url, {
      headers: { authorization: `${token.token_type} ${token.access_token}` },
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
  } catch (error) {
    process.emitWarning(`Could not reach ${url.origin} to end the session: ${causeOf(error)}`);
  }
}

function loginRequired(host: string, tokenEnvVar: string | null | undefined): LoginRequiredError {
  const variable = tokenEnvVar === undefined ? TOKEN_ENV_VAR : tokenEnvVar;
  const environment = variable === null ? "" : `, or set ${variable} to an access token`;
  return new LoginRequiredError(
    `No usable token for ${host}, and this is not an interactive terminal, so no login can start. ` +
      `Run \`ts-oidc-auth login ${host}\` in an interactive terminal first (the token is then stored ` +
      `and refreshed on its own)${environment}.`,
  );
}
