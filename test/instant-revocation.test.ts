/**
 * Instant revocation (docs/broker.md "Instant revocation"): two broker instances
 * share a SQLite store; a session ended at one (logout, RFC 7009
 * revocation, refresh-token reuse, back-channel logout) makes its access
 * tokens fail at the other within brokerRevocationCheckSeconds + 1 s, while
 * other users' tokens keep working. Without the option, they would work
 * until their `exp`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SignJWT } from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { ConfigurationError, OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { ADAPTERS, type RunningApp } from "./helpers/adapters.ts";
import { ALICE, authPaths, BOB, codeFlow } from "./helpers/flows.ts";
import { capturingLogger, TestClient } from "./helpers/http.ts";

const PREFIX = "/api";
const paths = authPaths(PREFIX);
const CALLBACK = "http://127.0.0.1/cb";
const CHECK_SECONDS = 1;
const EVENT = "http://schemas.openid.net/event/backchannel-logout";

describe("instant revocation options", () => {
  it("are refused by name when malformed", () => {
    const base = {
      clientId: "c",
      clientSecret: "s",
      discoveryUrl: "http://127.0.0.1:1/x",
      brokerMode: true,
      brokerStoreUrl: "memory://",
    };
    assert.throws(
      () => new OIDCAuth({ ...base, brokerInstantRevocation: "yes" as unknown as boolean }),
      (error: Error) =>
        error instanceof ConfigurationError && /brokerInstantRevocation/.test(error.message),
    );
    assert.throws(
      () => new OIDCAuth({ ...base, brokerRevocationCheckSeconds: 0 }),
      /brokerRevocationCheckSeconds.*positive/,
    );
  });
});

describe("instant revocation across two instances", () => {
  let idp: DevIdp;
  let folder: string;
  const apps: RunningApp[] = [];
  let first: TestClient;
  let second: TestClient;

  const options = (): OIDCAuthOptions => ({
    ...idp.confidentialClient,
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    allowedRedirectUris: [CALLBACK],
    secret: "instant-revocation-test-secret-0123456789",
    logger: capturingLogger([]),
    brokerMode: true,
    brokerStoreUrl: `sqlite:///${join(folder, "broker.sqlite")}`,
    // One issuer for both instances, as behind one load balancer.
    proxy: "https://app.example.org",
    refreshGraceSeconds: 0,
    brokerInstantRevocation: true,
    brokerRevocationCheckSeconds: CHECK_SECONDS,
  });

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "ts-oidc-auth-deny-"));
    idp = await startDevIdp();
    const [express] = ADAPTERS;
    for (let i = 0; i < 2; i++)
      apps.push(await (express as (typeof ADAPTERS)[0]).start(options(), { prefix: PREFIX }));
    [first, second] = apps.map((app) => new TestClient(app.url)) as [TestClient, TestClient];
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await idp?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  const login = async (who = ALICE) => {
    const reply = await codeFlow(first, PREFIX, CALLBACK, who);
    assert.equal(reply.status, 200, reply.text);
    return { access: String(reply.json.access_token), refresh: String(reply.json.refresh_token) };
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** Polls the instance until it refuses the token; how long that took, in ms. */
  async function refusedWithin(http: TestClient, token: string, limitMs: number) {
    const started = Date.now();
    for (;;) {
      const reply = await http.get("/me", bearer(token));
      if (reply.status === 401) {
        assert.equal(reply.json.error, "invalid_token");
        return Date.now() - started;
      }
      assert.equal(reply.status, 200, reply.text);
      assert.ok(Date.now() - started < limitMs, `still accepted after ${limitMs} ms`);
      await sleep(100);
    }
  }

  /** Both instances accept both users' tokens, so each holds a fresh "not denied" answer. */
  async function warmUp(...tokens: string[]) {
    for (const http of [first, second]) {
      for (const token of tokens) assert.equal((await http.get("/me", bearer(token))).status, 200);
    }
  }

  it("logout at one instance: refused there at once, at the other within the check interval + 1 s", async () => {
    const alice = await login();
    const bob = await login(BOB);
    await warmUp(alice.access, bob.access);
    const logout = await first.get(paths.logout, bearer(alice.access));
    assert.equal(logout.status, 302);
    assert.equal((await first.get("/me", bearer(alice.access))).status, 401);
    await refusedWithin(second, alice.access, (CHECK_SECONDS + 1) * 1000);
    assert.equal((await second.get("/me", bearer(bob.access))).status, 200, "bob stays");
    assert.equal((await second.get(paths.userinfo, bearer(alice.access))).status, 401);
  });

  it("RFC 7009 revocation of the refresh token at one instance", async () => {
    const alice = await login();
    await warmUp(alice.access);
    const revoked = await first.post(`${PREFIX}/auth/v2/revoke`, { token: alice.refresh });
    assert.equal(revoked.status, 200, revoked.text);
    await refusedWithin(second, alice.access, (CHECK_SECONDS + 1) * 1000);
  });

  it("refresh token reuse at one instance", async () => {
    const alice = await login();
    const rotated = await first.post(paths.token, { refresh_token: alice.refresh });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh = String(rotated.json.access_token);
    await warmUp(fresh);
    const reuse = await first.post(paths.token, { refresh_token: alice.refresh });
    assert.equal(reuse.status, 401, reuse.text);
    await refusedWithin(second, fresh, (CHECK_SECONDS + 1) * 1000);
  });

  it("back-channel logout received by one instance", async () => {
    const alice = await login();
    const bob = await login(BOB);
    await warmUp(alice.access, bob.access);
    const now = Math.floor(Date.now() / 1000);
    const sub = idp.users.find((user) => user.username === ALICE.username)?.sub;
    const { kid, privateKey } = idp.signingKey();
    const logoutToken = await new SignJWT({
      iss: idp.issuer,
      aud: idp.confidentialClient.clientId,
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      sub,
      events: { [EVENT]: {} },
    })
      .setProtectedHeader({ alg: "RS256", kid, typ: "logout+jwt" })
      .sign(privateKey);
    const received = await first.post(`${PREFIX}/auth/v2/backchannel-logout`, {
      logout_token: logoutToken,
    });
    assert.equal(received.status, 200, received.text);
    await refusedWithin(second, alice.access, (CHECK_SECONDS + 1) * 1000);
    assert.equal((await second.get("/me", bearer(bob.access))).status, 200, "bob stays");
  });
});
