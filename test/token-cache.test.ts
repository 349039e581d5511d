/**
 * The verified-token cache (issue 6): entries end at the token's `exp` (as
 * the verification judges it) and at the maximum age, the cache keeps to its
 * size, a key withdrawn from the IdP's JWKS stops admitting cached tokens,
 * and no token that differs from a cached one rides on its entry. Runs the
 * core guard against the real dev IdP; no timing assertions.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { base64url } from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { Broker } from "../src/broker/broker.ts";
import { BROKER_OPTION_NAMES, resolveBrokerOptions } from "../src/broker/options.ts";
import { AuthCore } from "../src/core/auth-core.ts";
import { TokenVerifier } from "../src/core/bearer.ts";
import type { IDToken } from "../src/core/claims.ts";
import type { GuardOutcome } from "../src/core/guard.ts";
import { keyRemovalEpoch } from "../src/core/keyset.ts";
import { ConfigurationError } from "../src/core/options.ts";
import { PassthroughMode } from "../src/core/passthrough.ts";
import { TokenCache } from "../src/core/token-cache.ts";
import type { TokenMode } from "../src/core/token-mode.ts";
import { OIDCAuth, type OIDCAuthOptions } from "../src/oidc-auth.ts";
import { forgedTokens, signWithIdpKey, validClaims } from "./helpers/forge.ts";

const quiet = { warn() {}, error() {} };

/**
 * An auth object whose token mode (passthrough or broker) counts its full
 * verifications: `verify`, and `verifyNow` where it answers.
 */
class ProbedAuth extends AuthCore {
  verifications = 0;

  constructor(options: OIDCAuthOptions) {
    super(options, {
      optionNames: Object.keys(BROKER_OPTION_NAMES),
      create: (services) => {
        const mode: TokenMode = options.brokerMode
          ? new Broker(resolveBrokerOptions(options), services)
          : new PassthroughMode(
              services.idp,
              new TokenVerifier(services.idp, services.options),
              services.options.logger,
            );
        const verify = mode.verify.bind(mode);
        mode.verify = (token) => {
          this.verifications += 1;
          return verify(token);
        };
        const verifyNow = mode.verifyNow?.bind(mode);
        if (verifyNow !== undefined) {
          mode.verifyNow = (token) => {
            const claims = verifyNow(token);
            if (claims !== undefined) this.verifications += 1;
            return claims;
          };
        }
        return mode;
      },
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bearer = (token: string) => `Bearer ${token}`;

function statusOf(outcome: GuardOutcome): number {
  return outcome.kind === "denied" ? outcome.response.status : 200;
}

describe("verified-token cache", () => {
  let idp: DevIdp;
  const authFor = (overrides: Partial<OIDCAuthOptions> = {}) =>
    new ProbedAuth({
      clientId: idp.confidentialClient.clientId,
      clientSecret: idp.confidentialClient.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      audience: idp.audience,
      secret: "test-secret-0123456789abcdef-0123456789abcdef",
      allowedRedirectUris: ["http://127.0.0.1/cb"],
      jwksCooldownMs: 0,
      logger: quiet,
      ...overrides,
    });

  before(async () => {
    idp = await startDevIdp();
  });

  after(async () => {
    await idp.stop();
  });

  it("verifies a token once and answers from the cache after that, requirements included", async () => {
    const auth = authFor();
    const guard = auth.guard();
    const scoped = auth.guard({ scopes: "admin:write" });
    const token = await signWithIdpKey(idp, validClaims(idp));
    for (let i = 0; i < 5; i++) assert.equal(statusOf(await guard(bearer(token))), 200);
    assert.equal(auth.verifications, 1);
    // The requirement is checked per guard, on the cached claims too.
    assert.equal(statusOf(await scoped(bearer(token))), 403);
    assert.equal(auth.verifications, 1);
    const outcome = await guard(bearer(token));
    assert.equal(outcome.kind, "token");
    if (outcome.kind === "token") {
      assert.equal(outcome.token.sub, "forged-test-subject");
      assert.ok(Object.isFrozen(outcome.token), "shared claims are frozen");
      assert.ok(Object.isFrozen(outcome.token.realm_access));
    }
  });

  it("answers without a promise once the key is known: new tokens (cache on and off) and cached ones", async () => {
    for (const tokenCacheSize of [0, 100]) {
      const auth = authFor({ tokenCacheSize });
      const guard = auth.guard();
      const scoped = auth.guard({ scopes: "admin:write" });
      // The first token of a kid goes through the key resolver, which then knows the key.
      const first = guard(bearer(await signWithIdpKey(idp, validClaims(idp))));
      assert.ok(first instanceof Promise, "the first token awaits the JWKS");
      assert.equal(statusOf(await first), 200);
      for (let i = 0; i < 3; i++) {
        const token = await signWithIdpKey(idp, validClaims(idp, { jti: `sync-${i}` }));
        for (const round of ["new", "again"]) {
          const outcome = guard(bearer(token));
          assert.ok(!(outcome instanceof Promise), `${round} token, cache ${tokenCacheSize}`);
          assert.equal(statusOf(outcome), 200);
        }
        const refused = scoped(bearer(token));
        assert.ok(!(refused instanceof Promise) && statusOf(refused) === 403);
      }
      // Anything the fast path does not vouch for still gets its answer, asynchronously.
      const expired = await signWithIdpKey(idp, validClaims(idp, { exp: 1000, iat: 900 }));
      const outcome = guard(bearer(expired));
      assert.ok(outcome instanceof Promise);
      assert.equal(statusOf(await outcome), 401);
      assert.equal(auth.verifications, tokenCacheSize === 0 ? 11 : 5);
    }
  });

  it("is off with tokenCacheSize 0", async () => {
    const auth = authFor({ tokenCacheSize: 0 });
    const guard = auth.guard();
    const token = await signWithIdpKey(idp, validClaims(idp));
    for (let i = 0; i < 3; i++) assert.equal(statusOf(await guard(bearer(token))), 200);
    assert.equal(auth.verifications, 3);
  });

  it("rejects a cached token once it is past exp, with the verification's clock tolerance", async () => {
    // Start just after a second turns over, and give the token two whole seconds: the
    // first checks have more than a second of margin, however the clock stands.
    await sleep(1000 - (Date.now() % 1000) + 20);
    const now = Math.floor(Date.now() / 1000);
    const exp = now + 2;
    const strict = authFor({ clockToleranceSeconds: 0 });
    const token = await signWithIdpKey(idp, validClaims(idp, { iat: now, exp }));
    assert.equal(statusOf(await strict.guard()(bearer(token))), 200);
    // Tolerant: the same token, just past exp, is still inside 30 s of tolerance.
    const tolerant = authFor({ clockToleranceSeconds: 30 });
    assert.equal(statusOf(await tolerant.guard()(bearer(token))), 200);
    // jose's rule: expired once exp <= now (whole seconds), so from exp * 1000 on.
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 50);
    const reply = await strict.guard()(bearer(token));
    assert.equal(statusOf(reply), 401);
    assert.equal(
      strict.verifications,
      2,
      "the expired entry is not used; the token is re-verified",
    );
    assert.equal(statusOf(await tolerant.guard()(bearer(token))), 200);
    assert.equal(tolerant.verifications, 1, "within tolerance the cached entry still counts");
    // optional() treats the expired cached token as anonymous.
    assert.equal((await strict.guard({}, true)(bearer(token))).kind, "anonymous");
  });

  it("verifies again after tokenCacheMaxAgeMs", async () => {
    const auth = authFor({ tokenCacheMaxAgeMs: 100 });
    const guard = auth.guard();
    const token = await signWithIdpKey(idp, validClaims(idp));
    assert.equal(statusOf(await guard(bearer(token))), 200);
    assert.equal(statusOf(await guard(bearer(token))), 200);
    assert.equal(auth.verifications, 1);
    await sleep(150);
    assert.equal(statusOf(await guard(bearer(token))), 200);
    assert.equal(auth.verifications, 2);
  });

  it("never holds more tokens than its size, and keeps the most recently used", async () => {
    const auth = authFor({ tokenCacheSize: 5 });
    const guard = auth.guard();
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signWithIdpKey(idp, validClaims(idp, { jti: `t${i}` }))),
    );
    for (const token of tokens) {
      assert.equal(statusOf(await guard(bearer(token))), 200);
      // Touch the first token each time: it stays while the others pass through.
      assert.equal(statusOf(await guard(bearer(tokens[0] as string))), 200);
    }
    assert.equal(auth.verifications, 20, "the first token was verified once, every other once");
    // The newest four and the first are held; an older one was evicted and is verified again.
    assert.equal(statusOf(await guard(bearer(tokens[19] as string))), 200);
    assert.equal(auth.verifications, 20);
    assert.equal(statusOf(await guard(bearer(tokens[1] as string))), 200);
    assert.equal(auth.verifications, 21);
  });

  it("stops admitting cached tokens of a key removed from the IdP's JWKS", async () => {
    const rotating = await startDevIdp();
    try {
      const auth = new ProbedAuth({
        clientId: rotating.confidentialClient.clientId,
        discoveryUrl: rotating.discoveryUrl,
        audience: rotating.audience,
        jwksCooldownMs: 0,
        logger: quiet,
      });
      const guard = auth.guard();
      const old = await signWithIdpKey(rotating, validClaims(rotating));
      assert.equal(statusOf(await guard(bearer(old))), 200);
      await rotating.rotateSigningKey();
      await rotating.dropOldSigningKeys();
      // Still cached, and the verifier has not looked at the JWKS since: accepted.
      assert.equal(statusOf(await guard(bearer(old))), 200);
      // A token of the new key makes the verifier reload the JWKS, which lacks the old key.
      const fresh = await signWithIdpKey(rotating, validClaims(rotating));
      assert.equal(statusOf(await guard(bearer(fresh))), 200);
      assert.equal(statusOf(await guard(bearer(old))), 401);
      assert.equal(statusOf(await guard(bearer(fresh))), 200);
    } finally {
      await rotating.stop();
    }
  });

  it("stops admitting a removed key's cached tokens within the maximum age, even unnoticed", async () => {
    const rotating = await startDevIdp();
    try {
      const auth = new ProbedAuth({
        clientId: rotating.confidentialClient.clientId,
        discoveryUrl: rotating.discoveryUrl,
        audience: rotating.audience,
        jwksCooldownMs: 0,
        // The JWKS is refetched (in the background) once older than this.
        jwksMaxAgeMs: 50,
        tokenCacheMaxAgeMs: 200,
        logger: quiet,
      });
      const guard = auth.guard();
      const old = await signWithIdpKey(rotating, validClaims(rotating));
      assert.equal(statusOf(await guard(bearer(old))), 200);
      await rotating.rotateSigningKey();
      await rotating.dropOldSigningKeys();
      // Nothing but the maximum age ends the entry; the next verification sees the new JWKS.
      let status = 200;
      for (let attempt = 0; attempt < 50 && status === 200; attempt++) {
        await sleep(50);
        status = statusOf(await guard(bearer(old)));
      }
      assert.equal(status, 401);
    } finally {
      await rotating.stop();
    }
  });

  it("never admits a token that differs from a cached one", async () => {
    const auth = authFor();
    const guard = auth.guard();
    const optional = auth.guard({}, true);
    const genuine = await signWithIdpKey(idp, validClaims(idp));
    assert.equal(statusOf(await guard(bearer(genuine))), 200);
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const flip = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
    const admin = base64url.encode(
      JSON.stringify({
        ...JSON.parse(new TextDecoder().decode(base64url.decode(payload))),
        sub: "admin",
      }),
    );
    const variants: Record<string, string> = {
      "another signature": `${header}.${payload}.${flip(signature, 10)}`,
      "signature cut short": `${header}.${payload}.${signature.slice(0, -4)}`,
      "no signature": `${header}.${payload}.`,
      "tampered payload, same signature": `${header}.${admin}.${signature}`,
      "header with alg none": `${base64url.encode('{"alg":"none"}')}.${payload}.`,
      ...(await forgedTokens(idp)),
    };
    for (const [attack, token] of Object.entries(variants)) {
      assert.equal(statusOf(await guard(bearer(token))), 401, attack);
      assert.equal((await optional(bearer(token))).kind, "anonymous", attack);
    }
    assert.equal(statusOf(await guard(bearer(genuine))), 200);
  });

  it("Hono: reads Node's request header under @hono/node-server, and a Worker's bindings never", async () => {
    const { Hono } = await import("hono");
    const { HonoOIDCAuth } = await import("../src/adapters/hono.ts");
    const auth = new HonoOIDCAuth({
      clientId: idp.confidentialClient.clientId,
      discoveryUrl: idp.discoveryUrl,
      audience: idp.audience,
      logger: quiet,
    });
    const app = new Hono();
    app.get("/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
    const token = await signWithIdpKey(idp, validClaims(idp));
    const headers = { authorization: bearer(token) };
    // Bindings that happen to be called "incoming" (a queue, say) are not Node's request.
    for (const env of [undefined, { incoming: "a queue" }, { incoming: { headers: null } }]) {
      const reply = await app.request("/me", { headers }, env);
      assert.equal(reply.status, 200, JSON.stringify(env));
    }
    // Node's request (as @hono/node-server passes it) wins over the web Request's header.
    const node = { incoming: { headers: {} }, outgoing: {} };
    assert.equal((await app.request("/me", { headers }, node)).status, 401);
    const nodeWithToken = { incoming: { headers }, outgoing: {} };
    assert.equal((await app.request("/me", {}, nodeWithToken)).status, 200);
  });

  it("caches broker tokens in broker mode too", async () => {
    const { MemoryBrokerStore } = await import("../src/stores/index.ts");
    const auth = authFor({
      brokerMode: true,
      brokerStore: new MemoryBrokerStore(),
      proxy: "https://app.example.org",
    });
    // Mint a broker token by exchanging an IdP token.
    const idpToken = await signWithIdpKey(idp, validClaims(idp));
    const exchange = auth.routes().find((route) => route.name === "token");
    assert.ok(exchange);
    const form = new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: idpToken,
    });
    const reply = await exchange.handle({
      method: "POST",
      query: new URLSearchParams(),
      authorization: undefined,
      contentType: "application/x-www-form-urlencoded",
      body: () => form.toString(),
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const brokerToken = String((reply.body as Record<string, unknown>).access_token);
    const guard = auth.guard();
    for (let i = 0; i < 3; i++) assert.equal(statusOf(await guard(bearer(brokerToken))), 200);
    assert.equal(auth.verifications, 1);
    // The IdP's token is no broker token, cached or not.
    assert.equal(statusOf(await guard(bearer(idpToken))), 401);
  });
});

describe("TokenCache", () => {
  const claims = (exp: number) => ({ iss: "i", sub: "s", aud: "a", exp }) as IDToken;

  it("hashes alike with Web Crypto and node:crypto", async () => {
    const web = new TokenCache({ maxEntries: 1, maxAgeMs: 1, clockToleranceSeconds: 0 }, false);
    const node = new TokenCache({ maxEntries: 1, maxAgeMs: 1, clockToleranceSeconds: 0 });
    await sleep(10); // node:crypto loads lazily
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzIn0.c2ln";
    const fromNode = node.hash(token);
    assert.equal(typeof fromNode, "string", "synchronous once loaded");
    assert.equal(await web.hash(token), fromNode);
    assert.equal((fromNode as string).length, 32);
    assert.notEqual(await web.hash(`${token}x`), fromNode);
  });

  it("ends entries at exp plus tolerance, at the maximum age, and keeps to its size", () => {
    const t0 = 1_700_000_000_000;
    const exp = t0 / 1000 + 10;
    const cache = new TokenCache({ maxEntries: 2, maxAgeMs: 60_000, clockToleranceSeconds: 5 });
    cache.set("a", claims(exp), t0, keyRemovalEpoch());
    assert.ok(cache.get("a", t0 + 14_999), "inside exp + tolerance");
    assert.equal(
      cache.get("a", t0 + 15_000),
      undefined,
      "jose: expired once exp <= now - tolerance",
    );
    cache.set("b", claims(exp + 3600), t0, keyRemovalEpoch());
    assert.ok(cache.get("b", t0 + 59_999));
    assert.equal(cache.get("b", t0 + 60_000), undefined, "the maximum age");
    for (const key of ["c", "d", "e"]) cache.set(key, claims(exp + 3600), t0, keyRemovalEpoch());
    assert.equal(cache.size, 2);
    assert.equal(cache.get("c", t0), undefined, "least recently used out first");
  });

  it("refuses bad sizes and ages", () => {
    const base = { clientId: "c", discoveryUrl: "https://idp.example.org/.well-known/x" };
    for (const bad of [-1, 1.5, Number.NaN, "10"]) {
      assert.throws(
        () => new OIDCAuth({ ...base, tokenCacheSize: bad as number, logger: quiet }),
        (error: unknown) =>
          error instanceof ConfigurationError && /tokenCacheSize/.test(error.message),
      );
    }
    assert.throws(
      () => new OIDCAuth({ ...base, tokenCacheMaxAgeMs: 0, logger: quiet }),
      /tokenCacheMaxAgeMs/,
    );
  });
});
