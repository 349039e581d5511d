/**
 * Broker mode end to end (SPEC §5) against the real dev IdP: minted tokens,
 * refresh rotation with reuse detection and grace window, token exchange,
 * logout revocation, session expiry, forged broker tokens, a standard
 * verifier, and federation between two instances. Stores are real (SQLite
 * files, and the memory store where the store is not the point).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  base64url,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import { SecretBox } from "../src/broker/secret-box.ts";
import type { OIDCAuthOptions } from "../src/index.ts";
import { MemoryBrokerStore } from "../src/stores/index.ts";
import { BROKER_PREFIX, type BrokerApp, startBrokerApp } from "./helpers/broker-app.ts";
import { ALICE, authPaths, BOB, codeFlow } from "./helpers/flows.ts";
import { signWithIdpKey, validClaims } from "./helpers/forge.ts";
import { capturingLogger, type Reply, TestClient } from "./helpers/http.ts";

const CALLBACK = "http://127.0.0.1/cb";
const SECRET = "broker-test-secret-0123456789abcdef-0123456789";
const AUDIENCE = "myapp-api";
const paths = authPaths(BROKER_PREFIX);
const logLines: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), "ts-oidc-auth-broker-"));

let idp: DevIdp;
const apps: BrokerApp[] = [];

function brokerOptions(extra: Partial<OIDCAuthOptions> = {}): OIDCAuthOptions {
  return {
    clientId: idp.confidentialClient.clientId,
    clientSecret: idp.confidentialClient.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    scopes: "myscope profile email",
    audience: idp.audience,
    brokerAudience: AUDIENCE,
    secret: SECRET,
    allowedRedirectUris: [CALLBACK],
    brokerStore: new MemoryBrokerStore(),
    jwksCooldownMs: 0,
    logger: capturingLogger(logLines),
    ...extra,
  };
}

async function start(extra: (url: string) => Partial<OIDCAuthOptions> = () => ({})) {
  const app = await startBrokerApp((url) => brokerOptions(extra(url)));
  apps.push(app);
  return { app, http: new TestClient(app.url) };
}

const bearer = (token: unknown) => ({ authorization: `Bearer ${String(token)}` });

function assertBrokerTokens(reply: Reply, app: BrokerApp) {
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.headers.get("cache-control"), "no-store");
  const claims = decodeJwt(String(reply.json.access_token));
  assert.equal(claims.iss, app.issuer);
  assert.equal(claims.aud, AUDIENCE);
  assert.notEqual(reply.json.refresh_token, reply.json.access_token);
  assert.match(String(reply.json.refresh_token), /^rt\./);
  assert.equal(typeof reply.json.refresh_expires, "number");
  return claims;
}

before(async () => {
  idp = await startDevIdp({ devicePollIntervalSeconds: 1 });
});

after(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await idp.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("minted tokens", () => {
  it("mints its own token at login with the SPEC §5 claims, and the guards enforce scopes and claims", async () => {
    const { app, http } = await start();
    const reply = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const claims = assertBrokerTokens(reply, app);
    assert.equal(claims.preferred_username, "alice");
    assert.equal(claims.email, "alice@example.org");
    assert.ok((claims.roles as string[]).includes("admin"), "flattened roles");
    assert.match(String(claims.scope), /myscope/);
    for (const name of ["sub", "jti", "iat", "exp", "sid"]) assert.ok(claims[name], name);
    assert.ok((claims.exp as number) - (claims.iat as number) <= 900, "short-lived");
    const token = reply.json.access_token;
    assert.equal((await http.get("/me", bearer(token))).status, 200);
    assert.equal((await http.get("/scoped", bearer(token))).status, 200);
    assert.equal(
      (await http.get("/admin-scope", bearer(token))).status,
      403,
      "scope checks apply to broker tokens",
    );
    assert.equal((await http.get("/admins", bearer(token))).status, 200);
    const bob = await codeFlow(http, BROKER_PREFIX, CALLBACK, BOB);
    assert.equal((await http.get("/admins", bearer(bob.json.access_token))).status, 403);
    const userinfo = await http.get(paths.userinfo, bearer(token));
    assert.deepEqual(userinfo.json, {
      username: "alice",
      first_name: "Alice",
      last_name: "Liddell",
      email: "alice@example.org",
      pw_name: "alice",
    });
  });

  it("does not accept the IdP's own access tokens at the guards", async () => {
    const { http } = await start();
    const idpToken = await signWithIdpKey(idp, validClaims(idp));
    assert.equal((await http.get("/me", bearer(idpToken))).status, 401);
  });

  it("publishes its keys and metadata so a plain jose verifier accepts its tokens", async () => {
    const { app, http } = await start();
    const reply = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const metadata = (await http.get(`${BROKER_PREFIX}/.well-known/openid-configuration`)).json;
    assert.equal(metadata.issuer, app.issuer);
    assert.equal(metadata.jwks_uri, `${app.issuer}/auth/v2/.well-known/jwks.json`);
    assert.equal(metadata.token_endpoint, `${app.issuer}/auth/v2/token`);
    const rfc8414 = (await http.get(`${BROKER_PREFIX}/.well-known/oauth-authorization-server`))
      .json;
    assert.equal(rfc8414.jwks_uri, metadata.jwks_uri);
    // No library code from here on: only jose and the published metadata.
    const jwks = createRemoteJWKSet(new URL(String(metadata.jwks_uri)));
    const { payload } = await jwtVerify(String(reply.json.access_token), jwks, {
      issuer: String(metadata.issuer),
      audience: AUDIENCE,
    });
    assert.equal(payload.preferred_username, "alice");
  });

  it("signs with ES256 or EdDSA when configured", async () => {
    for (const alg of ["ES256", "EdDSA"] as const) {
      const { http } = await start(() => ({ brokerSigningAlg: alg }));
      const reply = await codeFlow(http, BROKER_PREFIX, CALLBACK);
      assert.equal(decodeProtectedHeader(String(reply.json.access_token)).alg, alg);
      assert.equal((await http.get("/me", bearer(reply.json.access_token))).status, 200);
    }
  });

  it("rejects forged broker tokens with 401", async () => {
    const { http } = await start();
    const genuine = String((await codeFlow(http, BROKER_PREFIX, CALLBACK)).json.access_token);
    const claims = decodeJwt(genuine);
    const header = {
      alg: decodeProtectedHeader(genuine).alg ?? "RS256",
      kid: decodeProtectedHeader(genuine).kid,
    };
    const stranger = await generateKeyPair("RS256");
    const [h, , s] = genuine.split(".");
    const forged = {
      "wrong key": await new SignJWT(claims).setProtectedHeader(header).sign(stranger.privateKey),
      "wrong audience": await new SignJWT({ ...claims, aud: "other" })
        .setProtectedHeader(header)
        .sign(stranger.privateKey),
      "alg none": `${base64url.encode(JSON.stringify({ alg: "none", kid: header.kid }))}.${base64url.encode(JSON.stringify(claims))}.`,
      "tampered payload": `${h}.${base64url.encode(JSON.stringify({ ...claims, roles: ["admin", "root"] }))}.${s}`,
      "another issuer": await new SignJWT({ ...claims, iss: "https://evil.example.org" })
        .setProtectedHeader(header)
        .sign(stranger.privateKey),
    };
    for (const [attack, token] of Object.entries(forged)) {
      assert.equal((await http.get("/me", bearer(token))).status, 401, attack);
    }
    // Expired: a genuine token of an instance whose tokens live 1 second, checked with no tolerance.
    const shortLived = await start(() => ({
      brokerAccessTokenSeconds: 1,
      clockToleranceSeconds: 0,
    }));
    const soonExpired = (await codeFlow(shortLived.http, BROKER_PREFIX, CALLBACK)).json
      .access_token;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await shortLived.http.get("/me", bearer(soonExpired))).status, 401, "expired");
  });
});

describe("refresh rotation", () => {
  it("rotates on every refresh; a rotated token presented after the grace window revokes the session", async () => {
    const { http } = await start(() => ({ refreshGraceSeconds: 1 }));
    const first = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const second = await http.post(paths.token, {
      refresh_token: String(first.json.refresh_token),
    });
    assert.equal(second.status, 200, second.text);
    assert.notEqual(second.json.refresh_token, first.json.refresh_token);
    assert.notEqual(second.json.access_token, first.json.access_token);
    const third = await http.post(paths.token, {
      "refresh-token": String(second.json.refresh_token),
    });
    assert.equal(third.status, 200, third.text);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const reuse = await http.post(paths.token, { refresh_token: String(first.json.refresh_token) });
    assert.equal(reuse.status, 401, reuse.text);
    assert.equal(reuse.json.error, "invalid_grant");
    const afterRevocation = await http.post(paths.token, {
      refresh_token: String(third.json.refresh_token),
    });
    assert.equal(afterRevocation.status, 401, "the whole session is revoked");
  });

  it("refuses a forged old-generation token without revoking the session it names", async () => {
    const { http } = await start(() => ({ refreshGraceSeconds: 1 }));
    const first = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const genuine = String(first.json.refresh_token);
    const second = await http.post(paths.token, { refresh_token: genuine });
    assert.equal(second.status, 200, second.text);
    const live = String(second.json.refresh_token);
    const [prefix, sessionId, generation, random, tag] = live.split(".");
    assert.equal(prefix, "rt");
    assert.equal(generation, "1");
    // The session id is no secret: knowing it must not let anyone end the session.
    const flipped = `${tag?.slice(0, -2)}${tag?.endsWith("AA") ? "BA" : "AA"}`;
    for (const forged of [
      `rt.${sessionId}.0.${random}.${flipped}`,
      `rt.${sessionId}.0.${random}.${tag}`,
      `rt.${sessionId}.00.${random}.${tag}`,
    ]) {
      const reply = await http.post(paths.token, { refresh_token: forged });
      assert.equal(reply.status, 401, reply.text);
    }
    const stillLive = await http.post(paths.token, { refresh_token: live });
    assert.equal(stillLive.status, 200, "the forged tokens revoked nothing");
  });

  it("gives a retry inside the grace window the identical new pair", async () => {
    const { http } = await start(() => ({ refreshGraceSeconds: 30 }));
    const first = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const form = { refresh_token: String(first.json.refresh_token) };
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => http.post(paths.token, form)),
    );
    for (const reply of replies) assert.equal(reply.status, 200, reply.text);
    assert.equal(new Set(replies.map((r) => r.json.refresh_token)).size, 1, "one rotation");
    assert.equal(new Set(replies.map((r) => r.json.access_token)).size, 1);
    const retry = await http.post(paths.token, form);
    assert.equal(retry.json.refresh_token, replies[0]?.json.refresh_token);
  });

  it("never accepts an access token as a refresh token", async () => {
    const { http } = await start();
    const tokens = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const reply = await http.post(paths.token, { refresh_token: String(tokens.json.access_token) });
    assert.equal(reply.status, 401);
    assert.match(String(reply.json.detail), /log in again/);
  });

  it("ends an expired session with 401 and a message to log in again", async () => {
    const { http } = await start(() => ({ brokerSessionSeconds: 1 }));
    const tokens = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const reply = await http.post(paths.token, {
      refresh_token: String(tokens.json.refresh_token),
    });
    assert.equal(reply.status, 401);
    assert.match(String(reply.json.detail), /log in again/);
  });

  it("revokes the session at logout when a token is presented", async () => {
    const { http } = await start();
    const tokens = await codeFlow(http, BROKER_PREFIX, CALLBACK);
    const logout = await http.get(paths.logout, bearer(tokens.json.access_token));
    assert.equal(logout.status, 302);
    const reply = await http.post(paths.token, {
      refresh_token: String(tokens.json.refresh_token),
    });
    assert.equal(reply.status, 401);
  });
});

describe("grants", () => {
  it("mints broker tokens after the device flow", async () => {
    const { app, http } = await start();
    const started = await http.post(paths.device);
    assert.equal(started.status, 200, started.text);
    await new IdpUserAgent().approveDevice(
      String(started.json.verification_uri_complete),
      ALICE.username,
      ALICE.password,
    );
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const reply = await http.post(paths.token, { device_code: String(started.json.device_code) });
    assertBrokerTokens(reply, app);
  });

  it("exchanges a valid IdP access token for a broker token (RFC 8693), and refuses others", async () => {
    const { app, http } = await start();
    const exchange = (subject: string) =>
      http.post(paths.token, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: subject,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      });
    const idpToken = await signWithIdpKey(idp, validClaims(idp, { preferred_username: "carol" }));
    const reply = await exchange(idpToken);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.issued_token_type, "urn:ietf:params:oauth:token-type:access_token");
    const claims = decodeJwt(String(reply.json.access_token));
    assert.equal(claims.iss, app.issuer);
    assert.equal(claims.preferred_username, "carol");
    assert.equal((await http.get("/me", bearer(reply.json.access_token))).status, 200);
    const wrongAudience = await signWithIdpKey(idp, validClaims(idp, { aud: "someone-else" }));
    assert.equal((await exchange(wrongAudience)).status, 400);
    assert.equal((await exchange("garbage")).status, 400);
    assert.equal(
      (await exchange(String(reply.json.access_token))).status,
      400,
      "a broker token is no IdP token",
    );
  });
});

describe("federation", () => {
  it("trusts a peer's tokens, only under the peer's own issuer, through rotation and the peer's downtime", async () => {
    const storeA = `sqlite:///${join(tmp, "a.sqlite")}`; // four slashes: an absolute path
    const storeB = new MemoryBrokerStore();
    const b = await start(() => ({ brokerKeyRotationSeconds: 2, brokerStore: storeB }));
    const aOptions = () => ({
      brokerStore: undefined,
      brokerStoreUrl: storeA,
      trustedIssuers: [b.app.issuer],
    });
    const a = await start(aOptions);
    const fromB = await codeFlow(b.http, BROKER_PREFIX, CALLBACK);
    const tokenB = String(fromB.json.access_token);
    assert.equal((await a.http.get("/me", bearer(tokenB))).status, 200, "B's token passes at A");

    // B's key, but claiming to be A or a stranger: refused.
    const [bKey] = await storeB.listSigningKeys(1);
    assert.ok(bKey);
    const box = new SecretBox([new TextEncoder().encode(SECRET)], "ts-oidc-auth signing keys v1");
    const bPrivateKey = await importJWK(JSON.parse(await box.open(bKey.privateJwk)), bKey.alg);
    const claims = decodeJwt(tokenB);
    for (const iss of [a.app.issuer, "https://stranger.example.org"]) {
      const forged = await new SignJWT({ ...claims, iss })
        .setProtectedHeader({ alg: bKey.alg, kid: bKey.kid })
        .sign(bPrivateKey);
      assert.equal((await a.http.get("/me", bearer(forged))).status, 401, iss);
    }

    // B rotates its key: A accepts B's new tokens without a restart.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const rotated = String((await codeFlow(b.http, BROKER_PREFIX, CALLBACK)).json.access_token);
    assert.notEqual(decodeProtectedHeader(rotated).kid, decodeProtectedHeader(tokenB).kid);
    assert.equal((await a.http.get("/me", bearer(rotated))).status, 200);

    // B goes down; a new instance A2 on A's store starts and still trusts B's tokens.
    await b.app.close();
    const a2 = await start(aOptions);
    assert.equal((await a2.http.get("/me", bearer(rotated))).status, 200);
  });
});

describe("secrets shared by instances", () => {
  const OLD = "old-secret-0123456789abcdef-0123456789abcdef";
  const NEW = "new-secret-0123456789abcdef-0123456789abcdef";
  const refresh = (http: TestClient, token: unknown) =>
    http.post(paths.token, { refresh_token: String(token) });

  it("without a secret, derives the keys from the client secret: login on A, refresh on B", async () => {
    const shared = new MemoryBrokerStore();
    const a = await start(() => ({ secret: undefined, brokerStore: shared }));
    const b = await start(() => ({ secret: undefined, brokerStore: shared }));
    const login = await codeFlow(a.http, BROKER_PREFIX, CALLBACK);
    assertBrokerTokens(login, a.app);
    const refreshed = await refresh(b.http, login.json.refresh_token);
    assertBrokerTokens(refreshed, b.app);
    assert.equal((await b.http.get("/me", bearer(refreshed.json.access_token))).status, 200);
    // The signing key A made (sealed under the client secret) signs at B too.
    const [key] = await shared.listSigningKeys(1);
    assert.equal(decodeProtectedHeader(String(refreshed.json.access_token)).kid, key?.kid);
  });

  it("rotates: [new, old] opens what old sealed; new alone ends those sessions with a 401, and keeps signing", async () => {
    const shared = new MemoryBrokerStore();
    const before = await start(() => ({ secret: OLD, brokerStore: shared }));
    const first = await codeFlow(before.http, BROKER_PREFIX, CALLBACK);
    const second = await codeFlow(before.http, BROKER_PREFIX, CALLBACK, BOB);
    const [oldKey] = await shared.listSigningKeys(1);

    const rotating = await start(() => ({ secret: [NEW, OLD], brokerStore: shared }));
    const rotated = await refresh(rotating.http, first.json.refresh_token);
    assertBrokerTokens(rotated, rotating.app);
    assert.equal(decodeProtectedHeader(String(rotated.json.access_token)).kid, oldKey?.kid);

    const lines = logLines.length;
    const replaced = await start(() => ({ secret: NEW, brokerStore: shared }));
    const ended = await refresh(replaced.http, second.json.refresh_token);
    assert.equal(ended.status, 401, ended.text);
    assert.equal(ended.json.error, "invalid_grant");
    assert.equal((await refresh(replaced.http, second.json.refresh_token)).status, 401, "revoked");
    const jwks = await replaced.http.get(`${BROKER_PREFIX}/auth/v2/.well-known/jwks.json`);
    assert.equal(jwks.status, 200, jwks.text);
    const exchanged = await replaced.http.post(paths.token, {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: await signWithIdpKey(idp, validClaims(idp)),
    });
    assert.equal(exchanged.status, 200, exchanged.text);
    const token = String(exchanged.json.access_token);
    assert.notEqual(decodeProtectedHeader(token).kid, oldKey?.kid, "a new key took over");
    assert.equal((await replaced.http.get("/me", bearer(token))).status, 200);
    const skipped = logLines.slice(lines).filter((line) => line.includes("opens with none"));
    assert.equal(skipped.length, 1, "one log line for the unreadable key");
    assert.ok(!logLines.some((line) => line.includes(OLD) || line.includes(NEW)));
  });

  it("refuses broker mode for a public client without a secret, naming the option", async () => {
    const { OIDCAuth } = await import("../src/index.ts");
    assert.throws(
      () =>
        new OIDCAuth({
          ...brokerOptions({ secret: undefined, clientSecret: undefined }),
          brokerMode: true,
        }),
      (error: unknown) => error instanceof Error && /invalid option "secret"/.test(error.message),
    );
  });
});
