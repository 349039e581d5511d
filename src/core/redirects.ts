/**
 * The redirect allow-list (docs/security.md "Login state and PKCE"): exact URLs, and loopback URLs with any
 * port, as native clients listen on a random one (RFC 8252 §7.3).
 */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

export class RedirectPolicy {
  private readonly exact: Set<string>;
  private readonly loopback: Set<string>;

  /** `allowList` undefined means every http(s) URI is allowed. */
  constructor(private readonly allowList: readonly string[] | undefined) {
    const urls = (allowList ?? []).map((uri) => new URL(uri));
    this.exact = new Set(urls.map((url) => url.href));
    this.loopback = new Set(urls.filter(isLoopback).map(withoutPort));
  }

  get restricted(): boolean {
    return this.allowList !== undefined;
  }

  /**
   * The URI as it was checked (the parsed URL's `href`) when it is allowed,
   * else undefined. Redirect to this, never to the raw input: the check
   * parses the URI, and the parser lower-cases the host, resolves `..` and
   * drops tabs and newlines, so the raw text can differ from what passed
   * (WHATWG URL Standard, "URL parsing").
   */
  allowed(uri: string): string | undefined {
    const url = URL.canParse(uri) ? new URL(uri) : undefined;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) return undefined;
    if (url.username || url.password || url.hash) return undefined;
    if (!this.restricted || this.exact.has(url.href)) return url.href;
    return isLoopback(url) && this.loopback.has(withoutPort(url)) ? url.href : undefined;
  }

  allows(uri: string): boolean {
    return this.allowed(uri) !== undefined;
  }

  /**
   * Where a browser login returns after its callback (README "Browser
   * sessions"): a path of the callback's own origin (`/page?x`, never
   * `//host`), a URL of that origin, or an allowed URI; undefined for
   * anything else, so no login becomes an open redirect.
   */
  returnTarget(returnTo: string, callbackUri: string): string | undefined {
    const home = new URL(callbackUri).origin;
    // "//evil" and "/\evil" are other hosts to a URL parser (WHATWG URL, "special authority slashes").
    if (/^\/(?![/\\])/.test(returnTo) && URL.canParse(returnTo, home)) {
      const url = new URL(returnTo, home);
      if (url.origin === home && !url.hash && !url.username) return url.href;
      return undefined;
    }
    if (URL.canParse(returnTo) && new URL(returnTo).origin === home) {
      const url = new URL(returnTo);
      return url.username || url.password || url.hash ? undefined : url.href;
    }
    return this.allowed(returnTo);
  }
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

function withoutPort(url: URL): string {
  return `${url.protocol}//${url.hostname}${url.pathname}${url.search}`;
}
