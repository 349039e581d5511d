/**
 * The router prefix is configuration, fixed once (README "Endpoints"): the
 * first router fixes it, another prefix later is refused rather than moving
 * the broker's issuer, a prefix must be a path, and an Express router
 * without a prefix may be mounted at a path instead.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { ConfigurationError, OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { MemoryBrokerStore } from "../src/stores/index.ts";
import { listen } from "./helpers/servers.ts";

const quiet = { warn() {}, error() {} };
const base: OIDCAuthOptions = {
  clientId: "c",
  clientSecret: "client-secret",
  discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
  logger: quiet,
};

const metadataOf = async (auth: OIDCAuth) => {
  const route = auth.routes({ prefix: "/api" }).find((r) => r.name === "metadata");
  assert.ok(route, "broker mode serves metadata");
  const reply = await route.handle({
    method: "GET",
    query: new URLSearchParams(),
    authorization: undefined,
    contentType: undefined,
    body: () => "",
  });
  return reply.body as Record<string, string>;
};

describe("the router prefix", () => {
  it("is fixed by the first router: the same prefix again is fine, another one is refused", () => {
    const auth = new OIDCAuth(base);
    auth.routes({ prefix: "/api" });
    assert.doesNotThrow(
      () => auth.routes({ prefix: "/api/" }),
      "a trailing slash is the same prefix",
    );
    assert.throws(
      () => auth.routes({ prefix: "/v2" }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        /"prefix"/.test(error.message) &&
        /\/api/.test(error.message),
    );
    assert.throws(() => auth.routes(), ConfigurationError, "no prefix is another prefix too");
  });

  it("must be a path", () => {
    assert.throws(
      () => new OIDCAuth(base).routes({ prefix: "api" }),
      (error: unknown) => error instanceof ConfigurationError && /"\/api"/.test(error.message),
    );
  });

  it("decides the broker issuer once: proxy joined with the prefix, before any request", async () => {
    const auth = new OIDCAuth({
      ...base,
      brokerMode: true,
      brokerStore: new MemoryBrokerStore(),
      proxy: "https://app.example.org/base/",
    });
    const metadata = await metadataOf(auth);
    assert.equal(metadata.issuer, "https://app.example.org/base/api");
    assert.equal(
      metadata.jwks_uri,
      "https://app.example.org/base/api/auth/v2/.well-known/jwks.json",
    );
    assert.equal(metadata.token_endpoint, "https://app.example.org/base/api/auth/v2/token");
    assert.throws(() => auth.routes({ prefix: "/other" }), ConfigurationError);
    assert.equal((await metadataOf(auth)).issuer, "https://app.example.org/base/api");
  });

  it("gives way to brokerIssuer", async () => {
    const auth = new OIDCAuth({
      ...base,
      brokerMode: true,
      brokerStore: new MemoryBrokerStore(),
      proxy: "https://app.example.org",
      brokerIssuer: "https://issuer.example.org/x",
    });
    assert.equal((await metadataOf(auth)).issuer, "https://issuer.example.org/x");
  });
});

describe("an Express router mounted at a path", () => {
  let idp: DevIdp;
  before(async () => {
    idp = await startDevIdp();
  });
  after(async () => {
    await idp.stop();
  });

  it("serves the endpoints and the routes added to it below that path", async () => {
    const { default: express } = await import("express");
    const { ExpressOIDCAuth } = await import("../src/adapters/express.ts");
    const auth = new ExpressOIDCAuth({
      clientId: idp.confidentialClient.clientId,
      clientSecret: idp.confidentialClient.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      allowedRedirectUris: ["http://127.0.0.1/cb"],
      logger: quiet,
    });
    const router = auth.createAuthRouter();
    router.get("/auth/v2/auth-ports", (_req, res) => {
      res.json({ valid_ports: [8080] });
    });
    const app = express();
    app.use("/api", router);
    const running = await listen(createServer(app));
    try {
      const ports = await fetch(`${running.url}/api/auth/v2/auth-ports`);
      assert.deepEqual(await ports.json(), { valid_ports: [8080] });
      const login = await fetch(
        `${running.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent("http://127.0.0.1:9/cb")}`,
        { redirect: "manual" },
      );
      assert.equal(login.status, 302);
      assert.ok(login.headers.get("location")?.startsWith(idp.issuer));
      assert.equal((await fetch(`${running.url}/auth/v2/auth-ports`)).status, 404);
    } finally {
      await running.close();
    }
  });
});

describe("the token endpoint, as py-oidc-auth checks it when a router is made", () => {
  it("is required in broker mode", () => {
    const auth = new OIDCAuth({ ...base, brokerMode: true, brokerStore: new MemoryBrokerStore() });
    assert.throws(
      () => auth.routes({ token: null }),
      (error: unknown) => error instanceof ConfigurationError && /"token"/.test(error.message),
    );
  });

  it("warns that without broker mode it hands out the IdP's own tokens", () => {
    const warnings: string[] = [];
    const logger = { warn: (line: string) => warnings.push(line), error() {} };
    new OIDCAuth({ ...base, logger }).routes({ token: null });
    assert.ok(!warnings.some((line) => line.includes("token endpoint")));
    new OIDCAuth({ ...base, logger }).routes();
    assert.ok(warnings.some((line) => /token endpoint hands out the IdP's own tokens/.test(line)));
  });
});
