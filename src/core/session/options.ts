/**
 * The `browserSessions` option (docs/browser-sessions.md "Browser sessions"): off unless
 * given; `true` takes every default.
 */
import { ConfigurationError, kindOf, nonEmptyString, positive } from "../options.ts";

export interface BrowserSessionOptions {
  /**
   * Where the session lives: `"cookie"` (the sealed cookie is the whole
   * session) or `"broker"` (the cookie holds broker tokens whose session
   * is checked in the store on every request, so a logout anywhere ends it
   * everywhere). Default: `"broker"` in broker mode, else `"cookie"`.
   */
  store?: "cookie" | "broker";
  /** A session unused this long ends, in seconds. Default 86400 (a day). */
  rollingSeconds?: number;
  /** A session ends this long after the login, however much it is used, in seconds. Default 604800 (a week). */
  absoluteSeconds?: number;
  /** Name of the session cookie (`__Host-` is put in front on https). Default `"oidc-session"`. */
  cookieName?: string;
}

export interface ResolvedSessionOptions {
  store: "cookie" | "broker" | undefined;
  rollingSeconds: number;
  absoluteSeconds: number;
  cookieName: string;
}

const NAMES = new Set(["store", "rollingSeconds", "absoluteSeconds", "cookieName"]);
/** RFC 6265 §4.1.1: a cookie name is an RFC 7230 token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

export function resolveSessionOptions(value: unknown): ResolvedSessionOptions | undefined {
  if (value === undefined || value === false) return undefined;
  const given = value === true ? {} : value;
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new ConfigurationError(
      "browserSessions",
      `expected true or an object, got ${kindOf(value)}`,
    );
  }
  for (const key of Object.keys(given)) {
    if (!NAMES.has(key)) throw new ConfigurationError(`browserSessions.${key}`, "unknown option");
  }
  const options = given as BrowserSessionOptions;
  if (options.store !== undefined && options.store !== "cookie" && options.store !== "broker") {
    throw new ConfigurationError("browserSessions.store", 'expected "cookie" or "broker"');
  }
  const rollingSeconds = positive(
    options.rollingSeconds ?? 86_400,
    "browserSessions.rollingSeconds",
  );
  const absoluteSeconds = positive(
    options.absoluteSeconds ?? 7 * 86_400,
    "browserSessions.absoluteSeconds",
  );
  if (rollingSeconds > absoluteSeconds) {
    throw new ConfigurationError(
      "browserSessions.rollingSeconds",
      "must not exceed browserSessions.absoluteSeconds",
    );
  }
  const cookieName = nonEmptyString(
    options.cookieName ?? "oidc-session",
    "browserSessions.cookieName",
  );
  if (!COOKIE_NAME.test(cookieName) || cookieName.startsWith("__")) {
    throw new ConfigurationError(
      "browserSessions.cookieName",
      "expected a cookie name of letters, digits and -._ (no __ prefix: it is added on https)",
    );
  }
  return { store: options.store, rollingSeconds, absoluteSeconds, cookieName };
}
