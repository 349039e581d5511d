/**
 * Issue 16 at the HTTP level, against every adapter fixture (treated as a
 * black box, started as conformance.test.ts starts it) and the dev IdP:
 * keys jose refuses in the IdP's JWKS are a 401, never a 500; padded or
 * otherwise re-spelt tokens are a 401; a subject token whose `sub` is no
 * string cannot be exchanged. Plus the broker's own refusal of such claims.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { base64url, exportJWK, generateKeyPair, type JWK } from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { Broker } from "../src/broker/broker.ts";
import { BROKER_OPTION_NAMES, resolveBrokerOptions } from "../src/broker/options.ts";
import { BasePath } from "../src/core/base-path.ts";
import type { IDToken } from "../src/core/claims.ts";
import { AuthError } from "../src/core/errors.ts";
import { IdentityProvider } from "../src/core/idp.ts";
import { resolveOptions } from "../src/core/options.ts";
import type { OIDCAuthOptions } from "../src/index.ts";
import { MemoryBrokerStore } from "../src/stores/index.ts";
import { ADAPTERS, type RunningApp } from "./helpers/adapters.ts";
import { signWithIdpKey, validClaims } from "./helpers/forge.ts";
import { TestClient } from "./helpers/http.ts";
import { listen } from "./helpers/servers.ts";

const quiet = { warn() {}, error() {} };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

let idp: DevIdp;
let keyServer: RunningApp;
/** Public keys jose will not verify with, by kid, with the alg and signature size to forge. */
const unusable: Record<string, { jwk: JWK; alg: string; bytes: number }> = {};

function options(overrides: Partial<OIDCAuthOptions> = {}): OIDCAuthOptions {
  return {
    clientId: idp.confidentialClient.clientId,
    clientSecret: idp.confidentialClient.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    // The IdP's key and the unusable ones, served by a loopback JWKS endpoint.
    jwksUri: `${keyServer.url}/jwks`,
    secret: "hardening-secret-0123456789abcdef-0123456789",
    allowedRedirectUris: ["http://127.0.0.1/cb"],
    logger: quiet,
    ...overrides,
  };
}

/** A token naming `kid` whose signature is random bytes. */
function forged(kid: string, alg: string, bytes: number): string {
  const header = base64url.encode(JSON.stringify({ alg, kid, typ: "JWT" }));
  const payload = base64url.encode(JSON.stringify(validClaims(idp)));
  return `${header}.${payload}.${base64url.encode(randomBytes(bytes))}`;
}

before(async () => {
  idp = await startDevIdp();
  const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({
    format: "jwk",
  }) as JWK;
  const ec = await exportJWK((await generateKeyPair("ES256")).publicKey);
  unusable["rsa-1024"] = {
    jwk: { ...weak, kid: "rsa-1024", alg: "RS256" },
    alg: "RS256",
    bytes: 128,
  };
  unusable["ec-off-curve"] = {
    jwk: { ...ec, x: base64url.encode(new Uint8Array(32)), kid: "ec-off-curve", alg: "ES256" },
    alg: "ES256",
    bytes: 64,
  };
  keyServer = await listen(
    createServer((_request, response) => {
      const keys = [idp.signingKey().publicJwk, ...Object.values(unusable).map((u) => u.jwk)];
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys }));
    }),
  );
});

after(async () => {
  await keyServer.close();
  await idp.stop();
});

for (const adapter of ADAPTERS) {
  describe(`hardening: ${adapter.name}`, () => {
    const apps: RunningApp[] = [];

    after(async () => {
      for (const app of apps) await app.close();
    });

    async function client(overrides: Partial<OIDCAuthOptions> = {}): Promise<TestClient> {
      const app = await adapter.start(options(overrides), { prefix: "/api" });
      apps.push(app);
      return new TestClient(app.url);
    }

    it("answers 401, not 500, for tokens naming keys jose refuses in the IdP's JWKS", async () => {
      const http = await client();
      assert.equal(
        (await http.get("/me", bearer(await signWithIdpKey(idp, validClaims(idp))))).status,
        200,
      );
      for (const [kid, { alg, bytes }] of Object.entries(unusable)) {
        const reply = await http.get("/me", bearer(forged(kid, alg, bytes)));
        assert.equal(reply.status, 401, `${kid}: ${reply.text}`);
        assert.equal(
          (await http.get("/maybe-me", bearer(forged(kid, alg, bytes)))).json.anonymous,
          true,
        );
      }
    });

    it("answers 401 for a genuine token re-spelt with padding or altered unused bits", async () => {
      const http = await client();
      const genuine = await signWithIdpKey(idp, validClaims(idp));
      assert.equal((await http.get("/me", bearer(genuine))).status, 200);
      const last = genuine.charAt(genuine.length - 1);
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      // A 2048-bit RSA signature is 342 characters: the last one has 4 unused bits.
      const lowBits = alphabet.charAt(alphabet.indexOf(last) | 0b1111);
      for (const variant of [`${genuine}==`, `${genuine}=`, genuine.slice(0, -1) + lowBits]) {
        assert.equal((await http.get("/me", bearer(variant))).status, 401, variant.slice(-4));
      }
    });

    it("answers 400 to a request with two Authorization headers, sent over a raw socket", async () => {
      const http = await client();
      const genuine = await signWithIdpKey(idp, validClaims(idp));
      const other = await signWithIdpKey(idp, validClaims(idp, { sub: "someone-else" }));
      const two = [`Authorization: Bearer ${genuine}`, `Authorization: Bearer ${other}`];
      for (const path of ["/me", "/maybe-me", "/api/auth/v2/userinfo"]) {
        assert.equal(await rawStatus(http.baseUrl, path, two), 400, path);
        assert.equal(await rawStatus(http.baseUrl, path, [two[0] as string]), 200, path);
      }
    });

    it("refuses to exchange a subject token whose sub is not a string, with a 400", async () => {
      const http = await client({
        brokerMode: true,
        brokerStore: new MemoryBrokerStore(),
        proxy: "https://app.example.org",
      });
      for (const sub of [42, ["a"], ""]) {
        const subjectToken = await signWithIdpKey(
          idp,
          validClaims(idp, { sub: sub as unknown as string }),
        );
        const reply = await http.post("/api/auth/v2/token", {
          grant_type: TOKEN_EXCHANGE,
          subject_token: subjectToken,
        });
        assert.equal(reply.status, 400, `${JSON.stringify(sub)}: ${reply.text}`);
      }
      const genuine = await signWithIdpKey(idp, validClaims(idp));
      const reply = await http.post("/api/auth/v2/token", {
        grant_type: TOKEN_EXCHANGE,
        subject_token: genuine,
      });
      assert.equal(reply.status, 200, reply.text);
    });
  });
}

/** The status of a GET written by hand, so that header lines can repeat. */
async function rawStatus(baseUrl: string, path: string, headerLines: string[]): Promise<number> {
  const { port } = new URL(baseUrl);
  const socket = connect(Number(port), "127.0.0.1");
  await once(socket, "connect");
  // Written, not ended: a half-closed socket may be dropped before an asynchronous answer.
  socket.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...headerLines,
      "Connection: close",
      "",
      "",
    ].join("\r\n"),
  );
  let reply = "";
  for await (const chunk of socket) reply += String(chunk);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
}

describe("broker: token exchange", () => {
  it("refuses claims whose sub is not a non-empty string with 400 invalid_request", async () => {
    const settings = options({
      brokerMode: true,
      brokerStore: new MemoryBrokerStore(),
      proxy: "https://a.example",
    });
    const resolved = resolveOptions(settings, Object.keys(BROKER_OPTION_NAMES));
    const broker = new Broker(resolveBrokerOptions(settings), {
      options: resolved,
      idp: new IdentityProvider(resolved),
      secrets: [randomBytes(32)],
      secretsFrom: "secret",
      basePath: new BasePath(resolved.proxy),
    });
    for (const sub of [42, undefined, null, ["a"], { id: "a" }, ""]) {
      const claims = { ...validClaims(idp), sub } as unknown as IDToken;
      await assert.rejects(
        broker.exchange(claims, ""),
        (error: unknown) =>
          error instanceof AuthError &&
          error.status === 400 &&
          error.error === "invalid_request" &&
          error.description === "The subject_token names no subject.",
        JSON.stringify(sub),
      );
    }
    const minted = await broker.exchange(validClaims(idp) as IDToken, "");
    assert.equal(typeof minted.access_token, "string");
  });
});
