/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728, README "Protected
 * resource metadata"), walked as a standard client walks it, against every
 * adapter in helpers/adapters.ts: a protected route without a token → 401
 * → the `resource_metadata` URL of its challenge (§5.1) → the document
 * (checked with oauth4webapi, and found again at its §3.1 location) → the
 * authorization server's metadata (openid-client discovery) → a token from
 * that server (authorization code with PKCE, the dev IdP's login form) →
 * the route again → 200. Broker mode names the broker as the server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as oauth from "oauth4webapi";
import * as client from "openid-client";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import { ConfigurationError, OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { ADAPTERS, type RunningApp } from "./helpers/adapters.ts";
import { type BrokerApp, startBrokerApp } from "./helpers/broker-app.ts";
import { ALICE, codeFlow } from "./helpers/flows.ts";
import { capturingLogger, TestClient } from "./helpers/http.ts";

const CALLBACK = "http://127.0.0.1/cb";
const CHALLENGE_PARAMETER = /resource_metadata="([^"]+)"/;

/** The `resource_metadata` URL of a 401's `WWW-Authenticate` challenge. */
function resourceMetadataUrl(challenge: string | null): URL {
  const match = CHALLENGE_PARAMETER.exec(challenge ?? "");
  assert.ok(match?.[1], `no resource_metadata in ${challenge}`);
  return new URL(match[1]);
}

/** RFC 9728 §3: fetched from the challenge's URL, then checked as oauth4webapi checks it. */
async function resourceMetadata(url: URL, expectedResource: URL) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  return oauth.processResourceDiscoveryResponse(expectedResource, response);
}

/** An access token from the authorization server, as any OAuth client gets one. */
async function tokenFrom(config: client.Configuration): Promise<string> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: "openid profile email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
  });
  const back = await new IdpUserAgent().authorize(url, ALICE.username, ALICE.password);
  const tokens = await client.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return tokens.access_token;
}

let idp: DevIdp;
before(async () => {
  idp = await startDevIdp();
});
after(async () => {
  await idp?.stop();
});

function appOptions(): OIDCAuthOptions {
  return {
    ...idp.confidentialClient,
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    allowedRedirectUris: [CALLBACK],
    logger: capturingLogger([]),
  };
}

describe("resource option", () => {
  it("takes an http(s) URL without a fragment, by name", () => {
    const base = { clientId: "c", clientSecret: "s", discoveryUrl: "http://127.0.0.1:1/x" };
    for (const resource of ["api", "ftp://host/x", "https://api.example/#x", 7]) {
      assert.throws(
        () => new OIDCAuth({ ...base, resource: resource as string }),
        (error: Error) => error instanceof ConfigurationError && /"resource"/.test(error.message),
      );
    }
  });
});

for (const adapter of ADAPTERS) {
  describe(`protected resource metadata: ${adapter.name}`, () => {
    let app: RunningApp;

    before(async () => {
      app = await adapter.start(appOptions(), {});
    });
    after(async () => {
      await app?.close();
    });

    it("leads a client from a 401 to a token the route accepts", async () => {
      const http = new TestClient(app.url);
      const refused = await http.get("/me");
      assert.equal(refused.status, 401);
      const challenge = refused.headers.get("www-authenticate");
      assert.match(challenge ?? "", /^Bearer resource_metadata="/);
      const metadataUrl = resourceMetadataUrl(challenge);
      assert.equal(metadataUrl.pathname, "/.well-known/oauth-protected-resource");
      // The request's origin (Next.js spells 127.0.0.1 as localhost in its NextURL).
      assert.equal(metadataUrl.port, new URL(app.url).port);
      // The resource identifier is the app's origin (no prefix, no proxy, no resource option).
      const resource = new URL(metadataUrl.origin);
      const document = await resourceMetadata(metadataUrl, resource);
      assert.deepEqual(document.authorization_servers, [idp.issuer]);
      assert.deepEqual(document.bearer_methods_supported, ["header"]);
      assert.deepEqual(document.scopes_supported, ["openid", "profile", "email"]);
      assert.equal(document.jwks_uri, undefined);
      // RFC 9728 §3.1: the well-known location derived from the identifier is where it is served.
      const derived = await oauth.resourceDiscoveryRequest(resource, {
        [oauth.allowInsecureRequests]: true,
      });
      assert.deepEqual(await oauth.processResourceDiscoveryResponse(resource, derived), document);

      const [server] = document.authorization_servers ?? [];
      const config = await client.discovery(
        new URL(String(server)),
        idp.confidentialClient.clientId,
        idp.confidentialClient.clientSecret,
        undefined,
        { execute: [client.allowInsecureRequests] },
      );
      const token = await tokenFrom(config);
      const accepted = await http.get("/me", { authorization: `Bearer ${token}` });
      assert.equal(accepted.status, 200, accepted.text);
      assert.equal(accepted.json.username, "alice");
    });

    it("names the metadata in every 401 challenge, after the error, and in no 403", async () => {
      const http = new TestClient(app.url);
      const bad = await http.get("/me", { authorization: "Bearer not.a.jwt" });
      assert.equal(bad.status, 401);
      assert.match(
        bad.headers.get("www-authenticate") ?? "",
        /^Bearer error="invalid_token", error_description="[^"]*", resource_metadata="http:\/\/(127\.0\.0\.1|localhost):\d+\/\.well-known\/oauth-protected-resource"$/,
      );
      const noToken = await http.get("/admin-scope");
      assert.match(noToken.headers.get("www-authenticate") ?? "", CHALLENGE_PARAMETER);
    });

    it("does not put a forged Host header into the challenge", async () => {
      const { request } = await import("node:http");
      const url = new URL("/me", app.url);
      const challenge = await new Promise<string | undefined>((resolve, reject) => {
        const sent = request(url, { headers: { host: 'evil.example"x' } }, (res) => {
          res.resume();
          resolve(res.headers["www-authenticate"]);
        });
        sent.on("error", reject);
        sent.end();
      });
      // Refused by the server as a bad request, or answered without the unsafe origin.
      assert.ok(!String(challenge).includes("evil.example"), String(challenge));
    });
  });
}

describe("protected resource metadata in broker mode", () => {
  let broker: BrokerApp;

  before(async () => {
    broker = await startBrokerApp(() => ({
      ...appOptions(),
      secret: "resource-metadata-test-secret-0123456789",
      brokerStoreUrl: "memory://",
    }));
  });
  after(async () => {
    await broker?.close();
  });

  it("names the broker as the authorization server, with its JWKS", async () => {
    const http = new TestClient(broker.url);
    const refused = await http.get("/me");
    const metadataUrl = resourceMetadataUrl(refused.headers.get("www-authenticate"));
    assert.equal(metadataUrl.href, `${broker.issuer}/.well-known/oauth-protected-resource`);
    const document = await resourceMetadata(metadataUrl, new URL(broker.issuer));
    assert.deepEqual(document.authorization_servers, [broker.issuer]);
    const config = await client.discovery(
      new URL(broker.issuer),
      "any-client",
      undefined,
      undefined,
      {
        execute: [client.allowInsecureRequests],
      },
    );
    assert.equal(document.jwks_uri, config.serverMetadata().jwks_uri);
    const reply = await codeFlow(http, "/api", CALLBACK);
    assert.equal(reply.status, 200, reply.text);
    const accepted = await http.get("/me", { authorization: `Bearer ${reply.json.access_token}` });
    assert.equal(accepted.status, 200, accepted.text);
  });
});
