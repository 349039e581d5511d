/**
 * A browser as far as cookies go (RFC 6265 §5.3, for one loopback origin):
 * keeps what `Set-Cookie` stores, sends it back, forgets what expires, and
 * leaves redirects unfollowed so tests can look at each step.
 */
import assert from "node:assert/strict";
import { IdpUserAgent } from "../../dev-idp/user-agent.ts";
import { ALICE } from "./flows.ts";
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

  /**
   * A login from the app's login URL: the app's redirect to the IdP, the
   * user's sign-in there, and the app's callback, whose reply is returned.
   */
  async logIn(login: URL, user = ALICE): Promise<Reply> {
    const started = await this.get(`${login.pathname}${login.search}`);
    assert.equal(started.status, 302, started.text);
    const back = await new IdpUserAgent().authorize(
      new URL(started.headers.get("location") ?? ""),
      user.username,
      user.password,
    );
    return this.get(`${back.pathname}${back.search}`);
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
