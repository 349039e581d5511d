/**
 * The redirect allow-list (README "Login state and PKCE"): exact URLs, and loopback URLs with any
 * port, as native clients listen on a random one (RFC 8252 §7.3).
 */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

export class RedirectPolicy {
  private readonly exact: Set<string>;
  private readonly loopback: Set<string>;

  /** `allowed` undefined means every http(s) URI is allowed. */
  constructor(private readonly allowed: readonly string[] | undefined) {
    this.exact = new Set(allowed);
    this.loopback = new Set(
      (allowed ?? [])
        .map((uri) => new URL(uri))
        .filter(isLoopback)
        .map(withoutPort),
    );
  }

  get restricted(): boolean {
    return this.allowed !== undefined;
  }

  allows(uri: string): boolean {
    const url = URL.canParse(uri) ? new URL(uri) : undefined;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) return false;
    if (url.username || url.password || url.hash) return false;
    if (!this.restricted) return true;
    return this.exact.has(url.href) || (isLoopback(url) && this.loopback.has(withoutPort(url)));
  }
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

function withoutPort(url: URL): string {
  return `${url.protocol}//${url.hostname}${url.pathname}${url.search}`;
}
