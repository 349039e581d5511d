/**
 * OpenID Connect Back-Channel Logout 1.0 receiver (docs/broker.md "Broker mode"),
 * run against every adapter in helpers/adapters.ts: two app instances share
 * one SQLite store; the dev IdP (oidc-provider with back-channel logout on)
 * posts a real logout token to one of them when the user logs out there,
 * and the user's broker refresh token is then refused by both. Every
 * logout token that breaks a rule of §2.6 is a 400 and ends nothing.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import {
  base64url,
  decodeJwt,
  generateKeyPair,
  type JWSHeaderParameters,
  type JWTPayload,
  SignJWT,
} from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import type { OIDCAuthOptions } from "../src/index.ts";
import { ADAPTERS, type RunningApp } from "./helpers/adapters.ts";
import { ALICE, authPaths, BOB } from "./helpers/flows.ts";
import { capturingLogger, type Reply, TestClient } from "./helpers/http.ts";

const PREFIX = "/api";
const paths = { ...authPaths(PREFIX), backchannel: `${PREFIX}/auth/v2/backchannel-logout` };
const CALLBACK = "http://127.0.0.1/cb";
const AFTER_LOGOUT = "http://127.0.0.1/bye";
const SECRET = "backchannel-test-secret-0123456789abcdef";
const EVENT = "http://schemas.openid.net/event/backchannel-logout";

const INTROSPECTOR = { clientId: "rs", clientSecret: "rs-secret-0123456789abcdef" };
const INTROSPECTOR_AUTH = `Basic ${Buffer.from(`${INTROSPECTOR.clientId}:${INTROSPECTOR.clientSecret}`).toString("base64")}`;

const logLines: string[] = [];
const seenTokens = new Set<string>();

function assertError(reply: Reply, status: number): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(typeof reply.json.error, "string", reply.text);
  assert.equal(typeof reply.json.error_description, "string");
  assert.equal(typeof reply.json.detail, "string");
  assert.equal(reply.headers.get("cache-control"), "no-store");
}

/** Logs in through an app with a browser of its own, which keeps the IdP's session cookie. */
async function login(app: TestClient, who = ALICE) {
  const browser = new IdpUserAgent();
  const started = await app.get(`${paths.login}?redirect_uri=${encodeURIComponent(CALLBACK)}`);
  assert.equal(started.status, 302, started.text);
  const back = await browser.authorize(
    new URL(started.headers.get("location") ?? ""),
    who.username,
    who.password,
  );
  const code = back.searchParams.get("code") ?? "";
  const state = back.searchParams.get("state") ?? "";
  const tokens = await app.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`);
  assert.equal(tokens.status, 200, tokens.text);
  const access = String(tokens.json.access_token);
  const refresh = String(tokens.json.refresh_token);
  seenTokens.add(access).add(refresh);
  return { browser, access, refresh, sub: String(decodeJwt(access).sub) };
}

/** RFC 7662 at an instance, which asks the store and never the IdP. */
async function isActive(app: TestClient, token: string): Promise<boolean> {
  const response = await fetch(new URL(`${PREFIX}/auth/v2/introspect`, app.baseUrl), {
    method: "POST",
    body: new URLSearchParams({ token }),
    headers: {
      authorization: INTROSPECTOR_AUTH,
      "content-type": "application/x-www-form-urlencoded",
    },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { active: boolean }).active;
}

/** Rotates a refresh token: the next one, or the failed reply. */
async function refresh(app: TestClient, token: string) {
  const reply = await app.post(paths.token, { refresh_token: token });
  if (reply.status === 200) seenTokens.add(String(reply.json.refresh_token));
  return reply;
}

for (const adapter of ADAPTERS) {
  describe(`back-channel logout: ${adapter.name}`, () => {
    let idp: DevIdp;
    let folder: string;
    let first: TestClient;
    let second: TestClient;
    const apps: RunningApp[] = [];

    const options = (overrides: Partial<OIDCAuthOptions> = {}): OIDCAuthOptions => ({
      clientId: idp.confidentialClient.clientId,
      clientSecret: idp.confidentialClient.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      scopes: "myscope profile email",
      audience: idp.audience,
      allowedRedirectUris: [CALLBACK, AFTER_LOGOUT],
      secret: SECRET,
      jwksCooldownMs: 0,
      logger: capturingLogger(logLines),
      brokerMode: true,
      brokerStoreUrl: `sqlite:///${join(folder, "broker.sqlite")}`,
      proxy: "https://app.example.org",
      refreshGraceSeconds: 0,
      brokerIntrospectionClients: [INTROSPECTOR],
      ...overrides,
    });
    const start = async (settings: OIDCAuthOptions) => {
      const app = await adapter.start(settings, { prefix: PREFIX });
      apps.push(app);
      return new TestClient(app.url);
    };

    /** A logout token signed with the IdP's genuine key, for this client, valid unless changed. */
    const logoutToken = async (
      claims: JWTPayload = {},
      header: Partial<JWSHeaderParameters> = {},
      drop: string[] = [],
    ) => {
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = {
        iss: idp.issuer,
        aud: idp.confidentialClient.clientId,
        iat: now,
        exp: now + 120,
        jti: randomUUID(),
        events: { [EVENT]: {} },
        ...claims,
      };
      for (const name of drop) delete payload[name];
      const { kid, privateKey } = idp.signingKey();
      return new SignJWT(payload)
        .setProtectedHeader({ alg: "RS256", kid, typ: "logout+jwt", ...header })
        .sign(privateKey);
    };

    before(async () => {
      folder = await mkdtemp(join(tmpdir(), "ts-oidc-auth-bcl-"));
      idp = await startDevIdp({ devicePollIntervalSeconds: 1 });
      first = await start(options());
      second = await start(options());
      // The IdP reaches the app through the second instance only.
      idp.setBackchannelLogoutUri(`${second.baseUrl}${paths.backchannel}`);
    });

    after(async () => {
      await Promise.all(apps.map((app) => app.close()));
      await idp.stop();
      await rm(folder, { recursive: true, force: true });
    });

    it("ends the user's broker session on every instance when the user logs out at the IdP", async () => {
      const alice = await login(first);
      const bob = await login(first, BOB);
      // The session recorded the IdP's sid from the ID token, where a logout token can find it.
      const database = new Database(join(folder, "broker.sqlite"), { readonly: true });
      const owner = database
        .prepare("SELECT idp_sid FROM oidc_broker_session_owners WHERE subject = ?")
        .all(alice.sub) as Array<{ idp_sid: string | null }>;
      database.close();
      assert.ok(owner.length > 0 && owner.every((row) => typeof row.idp_sid === "string"));
      // The session is shared: the second instance rotates the first one's refresh token.
      const rotated = await refresh(second, alice.refresh);
      assert.equal(rotated.status, 200, rotated.text);
      const aliceRefresh = String(rotated.json.refresh_token);
      assert.equal(await isActive(first, aliceRefresh), true);

      // The user signs out at the IdP (RP-initiated through the first instance); the IdP posts
      // its logout token to the second instance before it answers.
      const logout = await first.get(
        `${paths.logout}?post_logout_redirect_uri=${encodeURIComponent(AFTER_LOGOUT)}`,
      );
      assert.equal(logout.status, 302);
      const endSession = logout.headers.get("location") ?? "";
      assert.ok(endSession.startsWith(idp.issuer), endSession);
      const landed = await alice.browser.endSession(endSession);
      assert.equal(landed.href, AFTER_LOGOUT);

      // Ended by the logout token alone: the store says so before anything asks the IdP.
      assert.equal(await isActive(first, aliceRefresh), false);
      assert.equal(await isActive(second, aliceRefresh), false);
      assert.equal(await isActive(first, bob.refresh), true);

      for (const app of [first, second]) {
        const refused = await refresh(app, aliceRefresh);
        assert.equal(refused.status, 401, refused.text);
        assert.equal(refused.json.error, "invalid_grant");
      }
      // Another user's session is untouched.
      assert.equal((await refresh(second, bob.refresh)).status, 200);
    });

    it("accepts a valid logout token once: its jti replayed at any instance is a 400", async () => {
      const carol = await login(first);
      const token = await logoutToken({ sub: carol.sub });
      const accepted = await second.post(paths.backchannel, { logout_token: token });
      assert.equal(accepted.status, 200, accepted.text);
      assert.equal(accepted.headers.get("cache-control"), "no-store");
      assert.equal((await refresh(first, carol.refresh)).status, 401);

      const later = await login(first);
      for (const app of [second, first]) {
        assertError(await app.post(paths.backchannel, { logout_token: token }), 400);
      }
      assert.equal((await refresh(second, later.refresh)).status, 200, "the replay ended nothing");
    });

    it("refuses every logout token that breaks a rule of §2.6 with a 400, and ends nothing", async () => {
      const user = await login(first);
      const now = Math.floor(Date.now() / 1000);
      const sub = user.sub;
      const { kid } = idp.signingKey();
      const stranger = await generateKeyPair("RS256");
      const foreign = await new SignJWT({
        iss: idp.issuer,
        aud: idp.confidentialClient.clientId,
        iat: now,
        jti: randomUUID(),
        events: { [EVENT]: {} },
        sub,
      })
        .setProtectedHeader({ alg: "RS256", kid, typ: "logout+jwt" })
        .sign(stranger.privateKey);
      const genuine = await logoutToken({ sub });
      const [header, payload] = genuine.split(".");
      const attacks: Record<string, string> = {
        "a forged signature (another key under the IdP's kid)": foreign,
        "a tampered payload": `${header}.${base64url.encode(JSON.stringify({ ...decodeJwt(genuine), sub: "someone" }))}.${genuine.split(".")[2]}`,
        "alg none": `${base64url.encode(JSON.stringify({ alg: "none", typ: "logout+jwt" }))}.${payload}.`,
        "the wrong audience": await logoutToken({ sub, aud: "another-client" }),
        "the wrong issuer": await logoutToken({ sub, iss: "https://evil.example.org" }),
        "a nonce": await logoutToken({ sub, nonce: "n-0S6_WzA2Mj" }),
        "no events claim": await logoutToken({ sub }, {}, ["events"]),
        "events without the back-channel logout event": await logoutToken({
          sub,
          events: { "http://schemas.openid.net/event/other": {} },
        }),
        "the event as a string": await logoutToken({ sub, events: { [EVENT]: "yes" } }),
        "events as an array": await logoutToken({ sub, events: [EVENT] }),
        "neither sid nor sub": await logoutToken({}),
        "an empty sub": await logoutToken({ sub: "" }),
        "a numeric sid": await logoutToken({ sid: 42 }),
        "no jti": await logoutToken({ sub }, {}, ["jti"]),
        "no iat": await logoutToken({ sub }, {}, ["iat"]),
        "an iat outside the window (an hour old, exp still ahead)": await logoutToken({
          sub,
          iat: now - 3600,
          exp: now + 60,
        }),
        "an iat in the future": await logoutToken({ sub, iat: now + 3600, exp: now + 3700 }),
        "an expired exp": await logoutToken({ sub, iat: now - 200, exp: now - 100 }),
        "typ JWT (an ID token's type)": await logoutToken({ sub }, { typ: "JWT" }),
        garbage: "not-a-jwt",
      };
      for (const [name, token] of Object.entries(attacks)) {
        const reply = await second.post(paths.backchannel, { logout_token: token });
        assert.equal(reply.status, 400, `${name}: ${reply.text}`);
        assertError(reply, 400);
      }
      assertError(await second.post(paths.backchannel, {}), 400);
      assertError(
        await second.post(paths.backchannel, `logout_token=${genuine}&logout_token=${genuine}`),
        400,
      );
      assert.equal(
        (await second.post(paths.backchannel, '{"logout_token":"x"}', "application/json")).status,
        415,
      );
      // Nothing was ended: the user's refresh token still rotates.
      assert.equal((await refresh(first, user.refresh)).status, 200);
      // `typ` may be absent, or spelt as the media type (§2.4).
      for (const typ of [undefined, "application/logout+jwt"]) {
        const reply = await second.post(paths.backchannel, {
          logout_token: await logoutToken({ sid: randomUUID() }, { typ }),
        });
        assert.equal(reply.status, 200, reply.text);
      }
    });

    it("is broker mode's: passthrough mode serves no back-channel logout endpoint", async () => {
      const passthrough = await start(
        options({ brokerMode: false, brokerStoreUrl: undefined, refreshGraceSeconds: undefined }),
      );
      const reply = await passthrough.post(paths.backchannel, {
        logout_token: await logoutToken({ sub: "alice" }),
      });
      assert.equal(reply.status, 404);
    });
  });
}

describe("back-channel logout leaks", () => {
  it("no log line contains a token", () => {
    assert.ok(seenTokens.size > 0);
    for (const token of seenTokens) {
      for (const line of logLines) assert.ok(!line.includes(token), line.slice(0, 80));
    }
  });
});
