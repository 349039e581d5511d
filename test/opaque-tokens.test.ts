/**
 * Opaque IdP access tokens (docs/guards.md "Opaque access tokens"): the dev IdP
 * issues opaque access tokens to its `demo-opaque` client and answers RFC
 * 7662 introspection; the guards check such tokens there, keep every guard
 * rule, bound how long an answer is reused, and answer 503 when the IdP is
 * gone. Run against every adapter in helpers/adapters.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DevIdp, ROUTES, startDevIdp } from "../dev-idp/index.ts";
import { ConfigurationError, OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { ADAPTERS, type RunningApp } from "./helpers/adapters.ts";
import { codeFlow } from "./helpers/flows.ts";
import { capturingLogger, TestClient } from "./helpers/http.ts";

const CALLBACK = "http://127.0.0.1/cb";
const MAX_AGE_MS = 800;

function appOptions(idp: DevIdp, logLines: string[]): OIDCAuthOptions {
  return {
    ...idp.opaqueTokenClient,
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    scopes: "profile email myscope",
    idpAccessTokens: "auto",
    introspectionMaxAgeMs: MAX_AGE_MS,
    allowedRedirectUris: [CALLBACK],
    logger: capturingLogger(logLines),
  };
}

/** Logs alice in through the app: the IdP's token JSON, relayed (passthrough mode). */
async function opaqueTokens(http: TestClient) {
  const reply = await codeFlow(http, "", CALLBACK);
  assert.equal(reply.status, 200, reply.text);
  const accessToken = String(reply.json.access_token);
  // Not a JWT: nothing the app could verify itself.
  assert.equal(accessToken.split(".").length, 1, "the dev IdP issued a JWT, not an opaque token");
  return { accessToken, refreshToken: String(reply.json.refresh_token) };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** RFC 7009 at the IdP itself: the token is dead there from now on. */
async function revokeAtIdp(idp: DevIdp, token: string): Promise<void> {
  const { clientId, clientSecret } = idp.opaqueTokenClient;
  const response = await fetch(`${idp.issuer}${ROUTES.revocation}`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token, token_type_hint: "access_token" }),
  });
  assert.equal(response.status, 200, await response.text());
}

describe("idpAccessTokens options", () => {
  it("refuses an unknown check by name, and introspection without a client secret", () => {
    const base = { clientId: "c", clientSecret: "s", discoveryUrl: "http://127.0.0.1:1/x" };
    assert.throws(
      () => new OIDCAuth({ ...base, idpAccessTokens: "opaque" as "auto" }),
      (error: Error) =>
        error instanceof ConfigurationError &&
        /idpAccessTokens.*"jwt", "introspection" or "auto", got a string/.test(error.message),
    );
    assert.throws(
      () => new OIDCAuth({ ...base, clientSecret: undefined, idpAccessTokens: "introspection" }),
      /idpAccessTokens.*clientSecret/,
    );
    assert.throws(
      () => new OIDCAuth({ ...base, idpAccessTokens: "auto", introspectionMaxAgeMs: 0 }),
      /introspectionMaxAgeMs.*positive number/,
    );
  });
});

for (const adapter of ADAPTERS) {
  describe(`opaque IdP access tokens: ${adapter.name}`, () => {
    let idp: DevIdp;
    let app: RunningApp;
    let http: TestClient;
    const logLines: string[] = [];

    before(async () => {
      idp = await startDevIdp();
      app = await adapter.start(appOptions(idp, logLines), {});
      http = new TestClient(app.url);
    });

    after(async () => {
      await app?.close();
      await idp?.stop();
    });

    it("accepts an opaque token the IdP calls active, and keeps scope and claim rules", async () => {
      const { accessToken } = await opaqueTokens(http);
      const me = await http.get("/me", bearer(accessToken));
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.username, "alice");
      assert.equal((await http.get("/scoped", bearer(accessToken))).status, 200);
      assert.equal((await http.get("/all-roles", bearer(accessToken))).status, 200);
      const scope = await http.get("/admin-scope", bearer(accessToken));
      assert.equal(scope.status, 403, scope.text);
      assert.equal(scope.json.error, "insufficient_scope");
      const optional = await http.get("/maybe-me", bearer(accessToken));
      assert.equal(optional.json.username, "alice");
    });

    it("refuses a token revoked at the IdP once the answer's age bound has passed", async () => {
      const { accessToken } = await opaqueTokens(http);
      assert.equal((await http.get("/me", bearer(accessToken))).status, 200);
      await revokeAtIdp(idp, accessToken);
      await sleep(MAX_AGE_MS + 200);
      const refused = await http.get("/me", bearer(accessToken));
      assert.equal(refused.status, 401, refused.text);
      assert.equal(refused.json.error, "invalid_token");
      assert.match(refused.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
      assert.equal((await http.get("/maybe-me", bearer(accessToken))).json.anonymous, true);
    });

    it("refuses unknown tokens and the refresh token, which the IdP also calls active", async () => {
      const { refreshToken } = await opaqueTokens(http);
      for (const token of ["not-a-token-the-idp-knows", refreshToken]) {
        const refused = await http.get("/me", bearer(token));
        assert.equal(refused.status, 401, refused.text);
        assert.equal(refused.json.error, "invalid_token");
      }
    });

    it("never logs or echoes a token", async () => {
      const { accessToken } = await opaqueTokens(http);
      await http.get("/me", bearer(accessToken));
      for (const text of [...logLines, ...http.bodies.filter((b) => !b.includes("access_token"))]) {
        assert.ok(!text.includes(accessToken), "a token was logged or echoed");
      }
    });
  });
}

describe("opaque IdP access tokens when the IdP is gone", () => {
  let idp: DevIdp;
  let app: RunningApp;
  const logLines: string[] = [];

  before(async () => {
    idp = await startDevIdp();
    const [express] = ADAPTERS;
    app = await (express as (typeof ADAPTERS)[number]).start(
      { ...appOptions(idp, logLines), introspectionMaxAgeMs: 60_000 },
      {},
    );
  });

  after(async () => {
    await app?.close();
    await idp?.stop();
  });

  it("answers 503 for a token it has not seen, and reuses the answers it has", async () => {
    const http = new TestClient(app.url);
    const seen = await opaqueTokens(http);
    const unseen = await opaqueTokens(http);
    assert.equal((await http.get("/me", bearer(seen.accessToken))).status, 200);
    assert.equal((await http.get("/me", bearer("dead-token"))).status, 401);
    await idp.stop();
    const outage = await http.get("/me", bearer(unseen.accessToken));
    assert.equal(outage.status, 503, outage.text);
    assert.equal(outage.json.error, "temporarily_unavailable");
    assert.equal(outage.headers.get("retry-after"), "5");
    // Answers from before the outage, within their bounds: no IdP call needed.
    assert.equal((await http.get("/me", bearer(seen.accessToken))).status, 200);
    assert.equal((await http.get("/me", bearer("dead-token"))).status, 401);
    assert.ok(logLines.some((line) => /token introspection request failed/.test(line)));
  });
});
