/**
 * What the request's origin says about cookies and cross-site requests
 * (docs/browser-sessions.md "Browser sessions", "Security model").
 */
import type { BrowserRequest } from "../http.ts";
import type { CookieScope } from "./cookies.ts";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
/** RFC 9110 §9.2.1: the methods that change nothing. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Cookies are `Secure` (and `__Host-`) unless the app is reached by plain
 * http on a loopback host, the one place a browser keeps no Secure cookie
 * for every engine; an unknown origin counts as https.
 */
export function cookieScope(browser: BrowserRequest | undefined): CookieScope {
  const origin = browser?.origin;
  if (origin === undefined || !URL.canParse(origin)) return { secure: true };
  const url = new URL(origin);
  return { secure: !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) };
}

/**
 * Whether a request authenticated by a cookie may change something: safe
 * methods may; others need a browser's word that the request comes from
 * this app's own pages, `Sec-Fetch-Site: same-origin` (or `none`, typed by
 * the user), else an `Origin` equal to the app's own (RFC 6454 §7.3). A
 * cross-site form or fetch carries neither (OWASP CSRF Prevention, "Fetch
 * Metadata", "Verifying Origin").
 */
export function sameOriginProof(method: string, browser: BrowserRequest | undefined): boolean {
  if (SAFE_METHODS.has(method.toUpperCase())) return true;
  const site = browser?.fetchSite?.toLowerCase();
  if (site === "same-origin" || site === "none") return true;
  if (site !== undefined) return false;
  const { originHeader, origin } = browser ?? {};
  return originHeader !== undefined && origin !== undefined && originHeader === origin;
}

/** Whether `uri` points at this app itself (its host as the request reached it). */
export function isOwnUri(uri: string, browser: BrowserRequest | undefined): boolean {
  const origin = browser?.origin;
  if (origin === undefined || !URL.canParse(origin) || !URL.canParse(uri)) return false;
  return new URL(uri).host === new URL(origin).host;
}
