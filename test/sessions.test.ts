/**
 * Browser sessions below HTTP (docs/browser-sessions.md "Browser sessions"): forged, swapped
 * and re-purposed cookies, chunking, the same-origin proof, the return
 * target and the options. The end-to-end flow in every adapter is in
 * conformance.test.ts ("browser sessions").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactSign, EncryptJWT } from "jose";
import type { BrowserRequest } from "../src/core/http.ts";
import { ConfigurationError, resolveOptions } from "../src/core/options.ts";
import { RedirectPolicy } from "../src/core/redirects.ts";
import { CHUNK_SIZE, parseCookies } from "../src/core/session/cookies.ts";
import { cookieScope, sameOriginProof } from "../src/core/session/request-origin.ts";
import { BrowserSessions } from "../src/core/session/sessions.ts";
import type { TokenMode } from "../src/core/token-mode.ts";
import { OIDCAuth } from "../src/index.ts";

const SECRET = new TextEncoder().encode("session-test-secret-0123456789abcdef-0123");
const OTHER_SECRET = new TextEncoder().encode("another-secret-0123456789abcdef-0123456789");
const ORIGIN = "http://127.0.0.1:3000";

/** The sessions here are checked before any token is used: a mode that is called fails the test. */
const untouchedMode = new Proxy({} as TokenMode, {
  get: (_target, name) => {
    if (name === "lifecycle" || name === "then") return undefined;
    return () => assert.fail(`the token mode was asked (${String(name)})`);
  },
});

const settings = {
  store: "cookie" as const,
  rollingSeconds: 600,
  absoluteSeconds: 3600,
  cookieName: "oidc-session",
  loginTimeoutSeconds: 600,
};

function browser(cookie: string | undefined, extra: Partial<BrowserRequest> = {}): BrowserRequest {
  return {
    method: "GET",
    cookie,
    origin: ORIGIN,
    originHeader: undefined,
    fetchSite: undefined,
    ...extra,
  };
}

/** The `Cookie` header a browser sends back for these `Set-Cookie` values. */
function cookieHeader(setCookies: string[]): string {
  return setCookies
    .map((line) => line.split(";")[0] ?? "")
    .filter((pair) => !pair.endsWith("="))
    .join("; ");
}

const tokens = (size = 100) => ({
  access_token: "a".repeat(size),
  token_type: "Bearer" as const,
  expires: Math.floor(Date.now() / 1000) + 3600,
  expires_in: 3600,
});

describe("session cookies", () => {
  const sessions = new BrowserSessions([SECRET], settings, untouchedMode);

  it("opens a session it sealed, in one cookie or in chunks", async () => {
    for (const size of [100, 3 * CHUNK_SIZE]) {
      const set = await sessions.establish(tokens(size), browser(undefined));
      assert.ok(size > CHUNK_SIZE ? set.length > 3 : set.length === 1, `${set.length} cookies`);
      for (const line of set)
        assert.ok(line.length < 4096, "each cookie fits a browser's 4096 bytes");
      const found = await sessions.lookup("GET", browser(cookieHeader(set)));
      assert.equal(found.kind, "live");
      assert.equal(found.kind === "live" && found.tokens.access_token.length, size);
    }
  });

  it("refuses a chunked session with a chunk missing, and clears every chunk", async () => {
    const set = await sessions.establish(tokens(3 * CHUNK_SIZE), browser(undefined));
    const header = cookieHeader(set)
      .split("; ")
      .filter((pair) => !pair.startsWith("oidc-session.1="))
      .join("; ");
    const found = await sessions.lookup("GET", browser(header));
    assert.equal(found.kind, "ended");
    const cleared = found.kind === "ended" ? found.cookies : [];
    const sent = header.split("; ").map((pair) => pair.split("=")[0]);
    assert.deepEqual(
      cleared.map((line) => line.split("=")[0]).sort(),
      ["oidc-session", ...sent].sort(),
    );
    for (const line of cleared) assert.match(line, /Max-Age=0/);
  });

  it("refuses a session sealed under another secret", async () => {
    const forger = new BrowserSessions([OTHER_SECRET], settings, untouchedMode);
    const set = await forger.establish(tokens(), browser(undefined));
    assert.equal((await sessions.lookup("GET", browser(cookieHeader(set)))).kind, "ended");
  });

  it("opens a session sealed under an older secret still configured (rotation)", async () => {
    const before = new BrowserSessions([OTHER_SECRET], settings, untouchedMode);
    const rotated = new BrowserSessions([SECRET, OTHER_SECRET], settings, untouchedMode);
    const set = await before.establish(tokens(), browser(undefined));
    assert.equal((await rotated.lookup("GET", browser(cookieHeader(set)))).kind, "live");
  });

  it("refuses a login cookie presented as the session (one key per purpose)", async () => {
    const login = await sessions.bindLogin(
      { stateId: "s1", verifier: "v".repeat(43), nonce: "n", returnTo: `${ORIGIN}/` },
      browser(undefined),
    );
    const value = (login.split(";")[0] ?? "").split("=")[1] ?? "";
    assert.equal((await sessions.lookup("GET", browser(`oidc-session=${value}`))).kind, "ended");
  });

  it("refuses an unencrypted or unsigned token spelt as a session", async () => {
    const payload = new TextEncoder().encode(JSON.stringify({ t: tokens(), c: 0, ta: 0 }));
    const signed = await new CompactSign(payload)
      .setProtectedHeader({ alg: "HS256" })
      .sign(new Uint8Array(32));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(payload).toString("base64url")}.`;
    const wrongAlg = await new EncryptJWT({ t: tokens() })
      .setProtectedHeader({ alg: "dir", enc: "A128CBC-HS256" })
      .encrypt(new Uint8Array(32));
    for (const value of [signed, unsigned, wrongAlg, "", "x".repeat(5000)]) {
      assert.notEqual(
        (await sessions.lookup("GET", browser(`oidc-session=${value}`))).kind,
        "live",
      );
    }
  });

  it("refuses the login cookie of another state", async () => {
    const login = await sessions.bindLogin(
      { stateId: "mine", verifier: "v".repeat(43), nonce: "n", returnTo: `${ORIGIN}/` },
      browser(undefined),
    );
    const header = login.split(";")[0];
    await assert.rejects(sessions.openLogin(browser(header), "theirs"), /another login/);
    assert.equal((await sessions.openLogin(browser(header), "mine")).verifier, "v".repeat(43));
  });

  it("asks for a same-origin proof on unsafe methods only", async () => {
    const set = await sessions.establish(tokens(), browser(undefined));
    const header = cookieHeader(set);
    assert.equal((await sessions.lookup("POST", browser(header))).kind, "cross-site");
    assert.equal((await sessions.lookup("DELETE", browser(header))).kind, "cross-site");
    const proven = browser(header, { fetchSite: "same-origin" });
    assert.equal((await sessions.lookup("POST", proven)).kind, "live");
    assert.equal((await sessions.lookup("HEAD", browser(header))).kind, "live");
  });
});

describe("same-origin proof and cookie scope", () => {
  it("takes Sec-Fetch-Site over Origin, and Origin only when equal to the app's", () => {
    const cases: Array<[Partial<BrowserRequest>, boolean]> = [
      [{ fetchSite: "same-origin" }, true],
      [{ fetchSite: "none" }, true],
      [{ fetchSite: "same-site" }, false],
      [{ fetchSite: "cross-site", originHeader: ORIGIN }, false],
      [{ originHeader: ORIGIN }, true],
      [{ originHeader: "null" }, false],
      [{ originHeader: `${ORIGIN}.evil.example` }, false],
      [{}, false],
    ];
    for (const [extra, expected] of cases) {
      assert.equal(
        sameOriginProof("POST", browser(undefined, extra)),
        expected,
        JSON.stringify(extra),
      );
    }
  });

  it("makes cookies Secure everywhere but plain http on loopback", () => {
    assert.equal(cookieScope(browser(undefined)).secure, false);
    assert.equal(
      cookieScope(browser(undefined, { origin: "http://localhost:8080" })).secure,
      false,
    );
    assert.equal(cookieScope(browser(undefined, { origin: "https://127.0.0.1" })).secure, true);
    assert.equal(
      cookieScope(browser(undefined, { origin: "http://app.example.org" })).secure,
      true,
    );
    assert.equal(cookieScope(browser(undefined, { origin: undefined })).secure, true);
  });

  it("reads the first of repeated cookie names (RFC 6265 §5.4)", () => {
    assert.equal(parseCookies("a=1; a=2; b=3").get("a"), "1");
  });

  it("names a Secure cookie __Host-", async () => {
    const sessions = new BrowserSessions([SECRET], settings, untouchedMode);
    const [line = ""] = await sessions.establish(
      tokens(),
      browser(undefined, { origin: "https://app.example.org" }),
    );
    assert.match(line, /^__Host-oidc-session=/);
    assert.match(line, /; Secure/);
    assert.doesNotMatch(line, /Domain=/i);
  });
});

describe("return target after a browser login", () => {
  const policy = new RedirectPolicy(["https://partner.example.org/welcome"]);
  const callback = "https://app.example.org/auth/v2/callback";

  it("takes a path or URL of the callback's origin, or an allowed URI", () => {
    assert.equal(
      policy.returnTarget("/account?tab=2", callback),
      "https://app.example.org/account?tab=2",
    );
    assert.equal(
      policy.returnTarget("https://app.example.org/x", callback),
      "https://app.example.org/x",
    );
    assert.equal(
      policy.returnTarget("https://partner.example.org/welcome", callback),
      "https://partner.example.org/welcome",
    );
  });

  it("refuses every other host, however spelt", () => {
    for (const target of [
      "//evil.example.org/",
      "/\\evil.example.org/",
      "/\t/evil.example.org/",
      "\\\\evil.example.org",
      "https://evil.example.org/",
      "https://app.example.org@evil.example.org/",
      "https://app.example.org.evil.example.org/",
      "javascript:alert(1)",
      "/page#fragment",
    ]) {
      assert.equal(policy.returnTarget(target, callback), undefined, target);
    }
  });
});

describe("the browserSessions option", () => {
  const base = {
    clientId: "c",
    discoveryUrl: "http://127.0.0.1:1/.well-known/openid-configuration",
  };

  it("is off by default and takes true for every default", () => {
    assert.equal(resolveOptions(base).browserSessions, undefined);
    assert.deepEqual(resolveOptions({ ...base, browserSessions: true }).browserSessions, {
      store: undefined,
      rollingSeconds: 86_400,
      absoluteSeconds: 604_800,
      cookieName: "oidc-session",
    });
  });

  it("refuses bad values, naming the option", () => {
    const bad: unknown[] = [
      "yes",
      { store: "redis" },
      { rollingSeconds: 0 },
      { rollingSeconds: 100, absoluteSeconds: 10 },
      { cookieName: "__Host-x" },
      { cookieName: "a b" },
      { rolingSeconds: 5 },
    ];
    for (const value of bad) {
      assert.throws(
        () => resolveOptions({ ...base, browserSessions: value as true }),
        (error: Error) =>
          error instanceof ConfigurationError && /browserSessions/.test(error.message),
        JSON.stringify(value),
      );
    }
  });

  it('refuses store "broker" without broker mode', () => {
    assert.throws(
      () => new OIDCAuth({ ...base, secret: "x".repeat(32), browserSessions: { store: "broker" } }),
      /brokerMode/,
    );
  });
});
