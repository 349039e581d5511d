/**
 * Unit tests of the core's pure parts: claim and scope requirements, the
 * redirect allow-list, retry with backoff, option validation, login state.
 * The HTTP-level behaviour is in conformance.test.ts.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { BROKER_OPTION_NAMES, resolveBrokerOptions } from "../src/broker/options.ts";
import { compileRequirement, flattenRoles, unmetRequirement } from "../src/core/claims.ts";
import { basicCredentials, ClientRegistry } from "../src/core/client-auth.ts";
import { AuthError } from "../src/core/errors.ts";
import { type AuthRequest, parseForm } from "../src/core/http.ts";
import { IdentityProvider } from "../src/core/idp.ts";
import { Lazy } from "../src/core/lazy.ts";
import { ConfigurationError, resolveOptions } from "../src/core/options.ts";
import { RedirectPolicy } from "../src/core/redirects.ts";
import { LoginStateSealer, MemoryUsedOnceRegistry } from "../src/core/state.ts";

const keycloakToken = {
  sub: "s",
  scope: "openid profile myscope",
  realm_access: { roles: ["admin", "user"] },
  resource_access: { "demo-app": { roles: ["editor"] }, other: { roles: ["viewer"] } },
  groups: ["/staff"],
  tenant: { id: "t1" },
};

describe("claim and scope requirements", () => {
  const unmet = (
    requirement: Parameters<typeof compileRequirement>[0],
    token: object = keycloakToken,
  ) => unmetRequirement(token as Record<string, unknown>, compileRequirement(requirement, {}));

  it("needs every scope, as a string or a list, from scope or scp", () => {
    assert.equal(unmet({ scopes: "profile myscope" }), undefined);
    assert.equal(unmet({ scopes: ["openid"] }), undefined);
    assert.match(unmet({ scopes: "profile admin:write" }) ?? "", /admin:write/);
    assert.equal(unmet({ scopes: "a b" }, { scp: ["a", "b"] }), undefined);
    assert.ok(unmet({ scopes: "a" }, {}));
    assert.ok(unmet({ scopes: "my" }), "a scope matches whole words only");
  });

  it("matches dot paths, wildcards and the flattened roles", () => {
    assert.equal(unmet({ claims: { "tenant.id": "t1" } }), undefined);
    assert.ok(unmet({ claims: { "tenant.id": "t2" } }));
    assert.equal(unmet({ claims: { "resource_access.*.roles": "viewer" } }), undefined);
    assert.equal(unmet({ claims: { roles: ["editor"] } }), undefined);
    assert.equal(unmet({ claims: { roles: "/staff" } }), undefined);
    assert.ok(unmet({ claims: { roles: "root" } }));
    assert.ok(unmet({ claims: { "tenant.id": "t1", roles: "root" } }), "all paths must match");
    assert.deepEqual(flattenRoles(keycloakToken).sort(), [
      "/staff",
      "admin",
      "editor",
      "user",
      "viewer",
    ]);
  });

  it("never walks into the prototype", () => {
    assert.ok(unmet({ claims: { "constructor.name": "Object" } }));
    assert.ok(unmet({ claims: { "__proto__.toString": "x" } }));
  });

  it("applies the configured default claims where a guard names none, else the guard's own", () => {
    const own = compileRequirement({ claims: { "tenant.id": "t1" } }, { roles: "root" });
    assert.equal(
      unmetRequirement(keycloakToken, own),
      undefined,
      "the guard's claims replace the defaults",
    );
    const strict = compileRequirement({}, { roles: "root" });
    assert.ok(unmetRequirement(keycloakToken, strict));
  });
});

describe("redirect allow-list", () => {
  const policy = new RedirectPolicy([
    "https://app.example.org/cb",
    "http://127.0.0.1/cb",
    "http://localhost/cb",
  ]);

  it("allows exact URLs and loopback URLs on any port", () => {
    assert.ok(policy.allows("https://app.example.org/cb"));
    assert.ok(policy.allows("http://127.0.0.1:53682/cb"));
    assert.ok(policy.allows("http://localhost:1/cb"));
  });

  it("refuses everything else", () => {
    for (const uri of [
      "https://app.example.org/cb/",
      "https://app.example.org/cb?x=1",
      "https://app.example.org.evil.com/cb",
      "http://app.example.org/cb",
      "https://user:pw@app.example.org/cb",
      "https://app.example.org/cb#frag",
      "http://127.0.0.1:8000/other",
      "http://[::1]:8000/cb",
      "javascript:alert(1)",
      "//evil.example.org/cb",
      "not a url",
    ]) {
      assert.equal(policy.allows(uri), false, uri);
    }
  });

  it("without a list allows any http(s) URI but nothing else", () => {
    const open = new RedirectPolicy(undefined);
    assert.ok(open.allows("https://anywhere.example.org/x"));
    assert.equal(open.allows("javascript:alert(1)"), false);
    assert.equal(open.restricted, false);
  });
});

describe("Lazy", () => {
  it("shares one load between concurrent callers", async () => {
    let loads = 0;
    const lazy = new Lazy(async () => {
      loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return "value";
    });
    const values = await Promise.all(Array.from({ length: 10 }, () => lazy.get()));
    assert.deepEqual(new Set(values), new Set(["value"]));
    assert.equal(loads, 1);
    assert.equal(lazy.current, "value");
  });

  it("fails fast during the backoff, then tries again", async () => {
    let loads = 0;
    const lazy = new Lazy(
      async () => {
        loads += 1;
        if (loads === 1) throw new Error("down");
        return "up";
      },
      { firstMs: 100, maxMs: 1000 },
    );
    await assert.rejects(lazy.get(), /down/);
    await assert.rejects(lazy.get(), /down/);
    assert.equal(loads, 1, "no second load inside the backoff");
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(await lazy.get(), "up");
    assert.equal(loads, 2);
  });

  it("without a backoff tries again on the next call; take() hands the value over and forgets it", async () => {
    let loads = 0;
    const lazy = new Lazy(async () => {
      loads += 1;
      if (loads === 1) throw new Error("down");
      return { connection: loads };
    });
    await assert.rejects(lazy.get(), /down/);
    assert.deepEqual(await lazy.get(), { connection: 2 });
    assert.deepEqual(await lazy.take(), { connection: 2 });
    assert.equal(lazy.current, undefined);
    assert.equal(lazy.take(), undefined, "nothing left to take");
    assert.deepEqual(await lazy.get(), { connection: 3 }, "made again after take()");
  });
});

describe("configuration", () => {
  const base = {
    clientId: "c",
    discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
  };

  it("applies the documented defaults", () => {
    const resolved = resolveOptions(base);
    assert.deepEqual(resolved.scopes, ["profile", "email"]);
    assert.equal(resolved.audience, "c");
    assert.equal(resolved.offlineAccess, true);
    assert.equal(resolved.clockToleranceSeconds, 30);
    assert.ok(!resolved.algorithms.includes("HS256"));
  });

  for (const [option, value] of [
    ["clientId", ""],
    ["discoveryUrl", "ftp://idp"],
    ["discoveryUrl", "not a url"],
    ["secret", "too short"],
    ["algorithms", ["HS256"]],
    ["algorithms", ["none"]],
    ["timeoutMs", -1],
    ["allowedRedirectUris", ["javascript:x"]],
    ["brokerAudence", "typo"],
    ["claims", "roles=admin"],
    ["claims", { roles: [] }],
    ["claims", { roles: { anyOf: [] } }],
    ["claims", { roles: 3 }],
  ] as const) {
    it(`names the option in the error for ${option} = ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => resolveOptions({ ...base, [option]: value } as never),
        (error: unknown) =>
          error instanceof ConfigurationError && error.message.includes(`"${option}"`),
      );
    });
  }

  it("knows the broker's options when the broker's names are passed, and nothing else", () => {
    const brokerNames = Object.keys(BROKER_OPTION_NAMES);
    assert.doesNotThrow(() =>
      resolveOptions({ ...base, brokerAudience: "x" } as never, brokerNames),
    );
    assert.throws(
      () => resolveOptions({ ...base, brokerAudience: "x" } as never),
      /brokerAudience/,
    );
    assert.throws(
      () => resolveOptions({ ...base, brokerAudence: "x" } as never, brokerNames),
      /brokerAudence/,
    );
  });

  for (const clients of [
    "rs:secret",
    [{ clientId: "rs" }],
    [{ clientId: "", clientSecret: "s".repeat(16) }],
    [{ clientId: "rs", clientSecret: "short" }],
    [
      { clientId: "rs", clientSecret: "s".repeat(16) },
      { clientId: "rs", clientSecret: "t".repeat(16) },
    ],
  ]) {
    it(`names brokerIntrospectionClients in the error for ${JSON.stringify(clients)}`, () => {
      assert.throws(
        () => resolveBrokerOptions({ brokerIntrospectionClients: clients as never }),
        (error: unknown) =>
          error instanceof ConfigurationError &&
          error.message.includes('"brokerIntrospectionClients"') &&
          !error.message.includes("short"),
      );
    });
  }

  it("never repeats a secret in its error", () => {
    assert.throws(
      () => resolveOptions({ ...base, secret: "hunter2" }),
      (error: unknown) => error instanceof Error && !error.message.includes("hunter2"),
    );
  });
});

describe("login state", () => {
  const secret = new TextEncoder().encode("k".repeat(32));
  const state = { id: "id-1", redirectUri: "https://app/cb", nonce: "n", verifier: "v".repeat(43) };

  it("opens what it sealed, once", async () => {
    const sealer = new LoginStateSealer([secret], 60, new MemoryUsedOnceRegistry());
    const sealed = await sealer.seal(state);
    assert.ok(sealed.startsWith("id-1|https://app/cb|"));
    assert.ok(LoginStateSealer.isSealed(sealed.slice(sealed.lastIndexOf("|") + 1)));
    const opened = await sealer.open(sealed);
    assert.equal(opened.verifier, state.verifier);
    assert.equal(opened.nonce, "n");
    await assert.rejects(
      sealer.open(sealed),
      (e: unknown) => e instanceof AuthError && e.status === 400,
    );
  });

  it("refuses state sealed under another secret, or expired", async () => {
    const other = new LoginStateSealer(
      [new TextEncoder().encode("x".repeat(32))],
      60,
      new MemoryUsedOnceRegistry(),
    );
    const mine = new LoginStateSealer([secret], 60, new MemoryUsedOnceRegistry());
    await assert.rejects(mine.open(await other.seal(state)), /invalid/);
    const shortLived = new LoginStateSealer([secret], 1, new MemoryUsedOnceRegistry());
    const sealed = await shortLived.seal(state);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await assert.rejects(shortLived.open(sealed), /expired/);
  });

  it("keeps its used-id memory bounded", async () => {
    const registry = new MemoryUsedOnceRegistry(100);
    const future = Date.now() / 1000 + 600;
    for (let i = 0; i < 1000; i += 1) assert.ok(await registry.useOnce(`id-${i}`, future));
    assert.ok((registry as unknown as { used: Map<string, number> }).used.size <= 100);
    assert.equal(
      await registry.useOnce("id-999", future),
      false,
      "recent ids are still remembered",
    );
  });
});

describe("discovery", () => {
  let idp: DevIdp;
  let hits = 0;
  let failNext = 0;
  let withoutEndSession = false;
  const server = createServer(async (req, res) => {
    hits += 1;
    if (failNext > 0) {
      failNext -= 1;
      res.writeHead(500).end();
      return;
    }
    const upstream = await fetch(`${idp.issuer}${req.url}`);
    const document = (await upstream.json()) as Record<string, unknown>;
    if (withoutEndSession) delete document.end_session_endpoint;
    res
      .writeHead(upstream.status, { "content-type": "application/json" })
      .end(JSON.stringify(document));
  });
  const discoveryUrl = () =>
    `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/openid-configuration`;
  const silent = { warn() {}, error() {} };

  before(async () => {
    idp = await startDevIdp();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    server.close();
    await idp.stop();
  });

  it("fetches once for many concurrent first callers", async () => {
    hits = 0;
    const provider = new IdentityProvider(
      resolveOptions({ clientId: "c", discoveryUrl: discoveryUrl(), logger: silent }),
    );
    const issuers = await Promise.all(Array.from({ length: 20 }, () => provider.issuer()));
    assert.deepEqual(new Set(issuers), new Set([idp.issuer]));
    assert.equal(hits, 1);
  });

  it("answers 503 while the IdP fails, and recovers by itself", async () => {
    hits = 0;
    failNext = 1;
    const provider = new IdentityProvider(
      resolveOptions({ clientId: "c", discoveryUrl: discoveryUrl(), logger: silent }),
    );
    await assert.rejects(
      provider.issuer(),
      (e: unknown) => e instanceof AuthError && e.status === 503,
    );
    await assert.rejects(
      provider.issuer(),
      (e: unknown) => e instanceof AuthError && e.status === 503,
    );
    assert.equal(hits, 1, "backoff: no second fetch at once");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await provider.issuer(), idp.issuer);
    assert.equal(hits, 2);
  });

  it("warns when the IdP advertises no end-session endpoint, as py-oidc-auth does", async () => {
    const warningsAbout = async (strip: boolean) => {
      withoutEndSession = strip;
      const warnings: string[] = [];
      const logger = { warn: (line: string) => warnings.push(line), error() {} };
      const provider = new IdentityProvider(
        resolveOptions({ clientId: "c", discoveryUrl: discoveryUrl(), logger }),
      );
      await provider.issuer();
      withoutEndSession = false;
      return warnings.filter((line) => line.includes("end_session_endpoint"));
    };
    assert.equal((await warningsAbout(true)).length, 1);
    assert.equal((await warningsAbout(false)).length, 0);
  });

  it("uses the configured issuer and jwksUri over discovery's", async () => {
    const provider = new IdentityProvider(
      resolveOptions({
        clientId: "c",
        discoveryUrl: discoveryUrl(),
        issuer: "https://public.example.org/realms/x",
        jwksUri: `${idp.issuer}/jwks`,
        logger: silent,
      }),
    );
    assert.equal(await provider.issuer(), "https://public.example.org/realms/x");
    assert.equal((await provider.jwksUri()).href, `${idp.issuer}/jwks`);
  });
});

describe("parseForm", () => {
  const LIMIT = 4096;
  const request = (contentType: string | undefined, body: string): AuthRequest => ({
    method: "POST",
    query: new URLSearchParams(),
    authorization: undefined,
    contentType,
    body: () => body,
  });
  const status = async (promise: Promise<unknown>) =>
    promise.then(
      () => 200,
      (error: unknown) => (error instanceof AuthError ? error.status : 500),
    );

  it("reads a request with no body at all as an empty form, so the endpoint can say what is missing", async () => {
    assert.equal([...(await parseForm(request(undefined, ""), LIMIT))].length, 0);
    assert.equal([...(await parseForm(request("", ""), LIMIT))].length, 0);
  });

  it("reads a form body", async () => {
    const form = await parseForm(
      request("application/x-www-form-urlencoded; charset=utf-8", "a=1"),
      LIMIT,
    );
    assert.equal(form.get("a"), "1");
  });

  it("answers 415 for a body of another type or of no declared type", async () => {
    assert.equal(await status(parseForm(request(undefined, "refresh_token=x"), LIMIT)), 415);
    assert.equal(await status(parseForm(request("application/json", '{"a":1}'), LIMIT)), 415);
    assert.equal(await status(parseForm(request("application/json", ""), LIMIT)), 415);
  });

  it("answers 413 past the limit, with or without a declared type, before buffering the rest", async () => {
    const form = "application/x-www-form-urlencoded";
    assert.equal(await status(parseForm(request(form, `a=${"x".repeat(LIMIT)}`), LIMIT)), 413);
    assert.equal(await status(parseForm(request(undefined, "x".repeat(LIMIT + 1)), LIMIT)), 413);
    let chunksRead = 0;
    const endless = {
      ...request(form, ""),
      body: async function* () {
        for (;;) {
          chunksRead += 1;
          yield "a".repeat(1024);
        }
      },
    };
    assert.equal(await status(parseForm(endless, LIMIT)), 413);
    assert.ok(chunksRead <= LIMIT / 1024 + 1, "stops reading at the limit");
  });
});

describe("HTTP Basic client authentication (RFC 6749 §2.3.1)", () => {
  const encode = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

  it("reads form-urlencoded ids and secrets, colons and non-ASCII included", () => {
    assert.deepEqual(basicCredentials(encode("urn:rs:1", "pä:ss word")), {
      clientId: "urn:rs:1",
      clientSecret: "pä:ss word",
    });
    for (const bad of [undefined, "Bearer x", "Basic", "Basic !!", `Basic ${btoa("no-colon")}`]) {
      assert.equal(basicCredentials(bad), undefined);
    }
  });

  it("accepts exactly the listed id and secret", async () => {
    const registry = new ClientRegistry([{ clientId: "urn:rs:1", clientSecret: "s".repeat(20) }]);
    assert.equal(await registry.authenticates(encode("urn:rs:1", "s".repeat(20))), true);
    for (const [id, secret] of [
      ["urn:rs:1", "s".repeat(19)],
      ["urn:rs:1", "s".repeat(21)],
      ["urn:rs:2", "s".repeat(20)],
      ["URN:RS:1", "s".repeat(20)],
    ] as const) {
      assert.equal(await registry.authenticates(encode(id, secret)), false, `${id}/${secret}`);
    }
    assert.equal(await new ClientRegistry([]).authenticates(encode("a", "b")), false);
  });
});
