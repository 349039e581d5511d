/**
 * A browser as far as cookies go (RFC 6265 §5.3, for one loopback origin):
 * keeps what `Set-Cookie` stores, sends it back, forgets what expires, and
 * leaves redirects unfollowed so tests can look at each step.
 */
import type { Reply, TestClient } from "./http.ts";

export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** Stores the response's cookies; `Max-Age=0` (or an empty value) removes one. */
  take(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
      const equals = pair.indexOf("=");
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      const maxAge = attributes.find((a) => a.toLowerCase().startsWith("max-age="));
      if (value === "" || maxAge?.toLowerCase() === "max-age=0") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  copy(): CookieJar {
    const jar = new CookieJar();
    for (const [name, value] of this.cookies) jar.cookies.set(name, value);
    return jar;
  }
}

/** Requests through a `TestClient` with a cookie jar, as a browser on the app's pages would send them. */
export class BrowserClient {
  constructor(
    readonly http: TestClient,
    readonly jar = new CookieJar(),
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.keep(await this.http.get(path, this.withCookies(headers)));
  }

  /** A POST from one of the app's own pages: `Sec-Fetch-Site: same-origin` unless `headers` say otherwise. */
  async post(path: string, headers: Record<string, string> = { "sec-fetch-site": "same-origin" }) {
    return this.keep(await this.http.request(path, "POST", this.withCookies(headers)));
  }

  private withCookies(headers: Record<string, string>): Record<string, string> {
    const cookie = this.jar.header();
    return cookie === undefined ? headers : { ...headers, cookie };
  }

  private keep(reply: Reply): Reply {
    this.jar.take(reply.headers);
    return reply;
  }
}
