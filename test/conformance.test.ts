/**
 * HTTP-level conformance: every endpoint (SPEC §3), every guard outcome
 * (SPEC §4) and the bad-input cases, run against every adapter in
 * helpers/adapters.ts, with a real OpenID Provider (dev-idp, oidc-provider)
 * on loopback. Nothing is mocked.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import * as oidcClient from "openid-client";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import type { OIDCAuthOptions, RouterOptions } from "../src/index.ts";
import { MemoryBrokerStore } from "../src/stores/index.ts";
import {
  ADAPTERS,
  type AdapterFixture,
  AUTH_PORTS,
  type RunningApp,
  SESSION_ROUTE,
} from "./helpers/adapters.ts";
import { BrowserClient, CookieJar } from "./helpers/browser-client.ts";
import { ALICE, BOB, loginAtIdp as loginAtIdpVia } from "./helpers/flows.ts";
import { forgedTokens, signWithIdpKey, validClaims } from "./helpers/forge.ts";
import { capturingLogger, type Reply, TestClient } from "./helpers/http.ts";

const PREFIX = "/api";
const CLIENT_CALLBACK = "http://127.0.0.1/cb"; // loopback: any port allowed
const WEB_CALLBACK = "https://app.example.org/cb";
const WEB_LOGOUT = "https://app.example.org/bye";
const SECRET = "test-secret-0123456789abcdef-0123456789abcdef";
const ROUTER: RouterOptions = { prefix: PREFIX };
const BROKER_AUDIENCE = "myapp-api";
const IDP_OPTIONS = { extraRedirectUris: [WEB_CALLBACK, WEB_LOGOUT], devicePollIntervalSeconds: 1 };

const paths = {
  login: `${PREFIX}/auth/v2/login`,
  callback: `${PREFIX}/auth/v2/callback`,
  token: `${PREFIX}/auth/v2/token`,
  device: `${PREFIX}/auth/v2/device`,
  logout: `${PREFIX}/auth/v2/logout`,
  userinfo: `${PREFIX}/auth/v2/userinfo`,
};

/** Everything secret the tests saw, for the leak check at the end. */
const secrets = new Set<string>();
const logLines: string[] = [];
const clients: TestClient[] = [];

function authOptions(idp: DevIdp, overrides: Partial<OIDCAuthOptions> = {}): OIDCAuthOptions {
  return {
    clientId: idp.confidentialClient.clientId,
    clientSecret: idp.confidentialClient.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    scopes: "myscope profile email",
    audience: idp.audience,
    allowedRedirectUris: [CLIENT_CALLBACK, WEB_CALLBACK, WEB_LOGOUT],
    secret: SECRET,
    jwksCooldownMs: 0,
    logger: capturingLogger(logLines),
    ...overrides,
  };
}

async function startClient(
  adapter: AdapterFixture,
  options: OIDCAuthOptions,
  apps: RunningApp[],
  router: RouterOptions = ROUTER,
): Promise<TestClient> {
  const app = await adapter.start(options, router);
  apps.push(app);
  const client = new TestClient(app.url);
  clients.push(client);
  return client;
}

const user = ALICE;
const bob = BOB;

/** GET /login, then log in at the IdP as a person would. */
const loginAtIdp = (http: TestClient, redirectUri: string, query = "", who = user) =>
  loginAtIdpVia(http, paths.login, redirectUri, query, who);

function remember(reply: Reply): Reply {
  for (const field of ["access_token", "refresh_token", "id_token", "device_code"]) {
    if (typeof reply.json[field] === "string") secrets.add(reply.json[field] as string);
  }
  return reply;
}

function assertTokenReply(reply: Reply): void {
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.headers.get("cache-control"), "no-store");
  const body = remember(reply).json;
  assert.equal(typeof body.access_token, "string");
  assert.equal(body.token_type, "Bearer");
  assert.equal(typeof body.expires, "number");
  assert.ok((body.expires as number) > Date.now() / 1000, "expires lies in the future");
  assert.equal(typeof body.expires_in, "number");
}

function assertError(reply: Reply, status: number, error?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(typeof reply.json.error, "string", reply.text);
  assert.equal(typeof reply.json.error_description, "string");
  assert.equal(typeof reply.json.detail, "string");
  if (error) assert.equal(reply.json.error, error);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A resource server allowed to introspect broker tokens (`brokerIntrospectionClients`). */
const RESOURCE_SERVER = { clientId: "resource-server", clientSecret: "rs-secret-0123456789abcdef" };
secrets.add(RESOURCE_SERVER.clientSecret);

/**
 * openid-client configured by discovering the broker at its issuer, as any
 * standard client would; the issuer's public origin is served by the test
 * app on loopback, so requests to it are sent there.
 */
function discoverBroker(
  issuer: string,
  app: TestClient,
  clientId: string,
  auth: oidcClient.ClientAuth,
): Promise<oidcClient.Configuration> {
  const origin = new URL(issuer).origin;
  const viaApp: oidcClient.CustomFetch = (url, options) =>
    fetch(
      url.startsWith(origin) ? `${app.baseUrl}${url.slice(origin.length)}` : url,
      options as RequestInit,
    );
  return oidcClient
    .discovery(new URL(issuer), clientId, undefined, auth, { [oidcClient.customFetch]: viaApp })
    .then((config) => {
      config[oidcClient.customFetch] = viaApp;
      return config;
    });
}

/** A raw form POST with an `Authorization` value (or none). */
async function postWithAuthorization(
  app: TestClient,
  path: string,
  form: Record<string, string>,
  authorization?: string,
): Promise<Reply> {
  const response = await fetch(new URL(path, app.baseUrl), {
    method: "POST",
    body: new URLSearchParams(form),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(authorization === undefined ? {} : { authorization }),
    },
  });
  const text = await response.text();
  app.bodies.push(text);
  const json = response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : {};
  return { status: response.status, headers: response.headers, text, json };
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

for (const adapter of ADAPTERS) {
  describe(`${adapter.name} adapter`, () => {
    let idp: DevIdp;
    let http: TestClient;
    const apps: RunningApp[] = [];
    const idps: DevIdp[] = [];

    before(async () => {
      idp = await startDevIdp(IDP_OPTIONS);
      idps.push(idp);
      secrets.add(idp.confidentialClient.clientSecret);
      http = await startClient(adapter, authOptions(idp), apps);
    });

    after(async () => {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(idps.map((server) => server.stop()));
    });

    describe("login and callback", () => {
      it("runs the authorization code flow end to end: login → IdP → callback → token JSON", async () => {
        const { authorizationUrl, code, state } = await loginAtIdp(http, WEB_CALLBACK);
        const sent = authorizationUrl.searchParams;
        assert.equal(sent.get("code_challenge_method"), "S256");
        assert.ok(sent.get("nonce"));
        assert.match(sent.get("scope") ?? "", /openid/);
        assert.match(sent.get("scope") ?? "", /offline_access/);
        const reply = await http.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertTokenReply(reply);
        assert.equal(typeof reply.json.refresh_token, "string");
        assert.match(String(reply.json.scope), /myscope/);
        const me = await http.get("/me", bearer(String(reply.json.access_token)));
        assert.equal(me.status, 200);
        assert.equal(me.json.username, "alice");
      });

      it("never puts the plain PKCE verifier into the state", async () => {
        const started = await http.get(
          `${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}`,
        );
        const url = new URL(started.headers.get("location") ?? "");
        const state = url.searchParams.get("state") ?? "";
        const parts = state.split("|");
        assert.equal(parts.length, 3);
        assert.equal(parts[1], WEB_CALLBACK);
        assert.ok(
          (parts[2] ?? "").length > 128,
          "the last part is sealed, not a 43-128 char verifier",
        );
        // The challenge sent to the IdP is not the hash of the last part.
        const hashOfLast = createHash("sha256")
          .update(parts[2] ?? "")
          .digest("base64url");
        assert.notEqual(url.searchParams.get("code_challenge"), hashOfLast);
      });

      it("serves py-oidc-auth's CLI: code_verifier is the part of state after the last |", async () => {
        const { code, state } = await loginAtIdp(http, "http://127.0.0.1:53682/cb");
        const reply = await http.post(paths.token, {
          code,
          redirect_uri: "http://127.0.0.1:53682/cb",
          code_verifier: state.slice(state.lastIndexOf("|") + 1),
        });
        assertTokenReply(reply);
      });

      it("accepts the client's own code_challenge (RFC 8252) and its code_verifier at /token", async () => {
        const verifier = randomBytes(32).toString("base64url");
        secrets.add(verifier);
        const challenge = createHash("sha256").update(verifier).digest("base64url");
        const redirectUri = "http://localhost:41999/done";
        const allowLocalhost = await startClient(
          adapter,
          authOptions(idp, { allowedRedirectUris: ["http://localhost/done"] }),
          apps,
        );
        const { authorizationUrl, code } = await loginAtIdp(
          allowLocalhost,
          redirectUri,
          `&code_challenge=${challenge}&code_challenge_method=S256`,
        );
        assert.equal(authorizationUrl.searchParams.get("code_challenge"), challenge);
        const reply = await allowLocalhost.post(paths.token, {
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        });
        assertTokenReply(reply);
      });

      it("refuses a replayed state", async () => {
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK);
        assertTokenReply(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`),
        );
        const again = await http.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertError(again, 400, "invalid_grant");
      });

      it("refuses a tampered state", async () => {
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK);
        const sealed = state.slice(state.lastIndexOf("|") + 1);
        const flipped = `${sealed.slice(0, -5)}${sealed.at(-5) === "A" ? "B" : "A"}${sealed.slice(-4)}`;
        const tampered = `${state.slice(0, state.lastIndexOf("|") + 1)}${flipped}`;
        assertError(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(tampered)}`),
          400,
        );
        const other = `x|${WEB_CALLBACK}|${"A".repeat(200)}`;
        assertError(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(other)}`),
          400,
        );
      });

      it("refuses an expired state", async () => {
        const shortLived = await startClient(
          adapter,
          authOptions(idp, { loginTimeoutSeconds: 1 }),
          apps,
        );
        const { code, state } = await loginAtIdp(shortLived, WEB_CALLBACK);
        await new Promise((resolve) => setTimeout(resolve, 2100));
        const reply = await shortLived.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertError(reply, 400, "invalid_grant");
        assert.match(String(reply.json.detail), /expired/);
      });

      it("refuses a redirect_uri off the allow-list, and a token request whose redirect_uri differs", async () => {
        for (const target of [
          "https://evil.example.org/cb",
          "https://app.example.org/cb2",
          "javascript:alert(1)",
        ]) {
          const reply = await http.get(`${paths.login}?redirect_uri=${encodeURIComponent(target)}`);
          assertError(reply, 400, "invalid_request");
          assert.equal(reply.headers.get("location"), null);
        }
        const { code, state } = await loginAtIdp(http, "http://127.0.0.1:5000/cb");
        const reply = await http.post(paths.token, {
          code,
          redirect_uri: "http://127.0.0.1:5001/cb",
          code_verifier: state.slice(state.lastIndexOf("|") + 1),
        });
        assertError(reply, 400, "invalid_grant");
      });

      it("passes prompt and the requested scope to the IdP, and validates prompt", async () => {
        const ok = await http.get(
          `${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}&prompt=login&scope=extra&offline_access=false`,
        );
        const sent = new URL(ok.headers.get("location") ?? "").searchParams;
        assert.equal(sent.get("prompt"), "login");
        assert.match(sent.get("scope") ?? "", /\bextra\b/);
        assert.doesNotMatch(sent.get("scope") ?? "", /offline_access/);
        assertError(
          await http.get(
            `${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}&prompt=evil`,
          ),
          400,
        );
      });
    });

    describe("refresh and device flow", () => {
      it("refreshes with refresh_token and with refresh-token", async () => {
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK);
        const first = await http.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertTokenReply(first);
        const second = await http.post(paths.token, {
          refresh_token: String(first.json.refresh_token),
        });
        assertTokenReply(second);
        const third = await http.post(paths.token, {
          "refresh-token": String(second.json.refresh_token),
        });
        assertTokenReply(third);
        assert.notEqual(third.json.access_token, first.json.access_token);
        const bogus = await http.post(paths.token, { refresh_token: "not-a-refresh-token" });
        assertError(bogus, 400, "invalid_grant");
      });

      it("runs the device flow: pending → approval → token, with device_code and device-code", async () => {
        const started = remember(await http.post(paths.device));
        assert.equal(started.status, 200, started.text);
        assert.equal(started.headers.get("cache-control"), "no-store");
        for (const field of [
          "device_code",
          "user_code",
          "verification_uri",
          "verification_uri_complete",
        ]) {
          assert.equal(typeof started.json[field], "string", field);
        }
        assert.equal(typeof started.json.expires_in, "number");
        assert.equal(typeof started.json.interval, "number");
        const deviceCode = String(started.json.device_code);
        assertError(
          await http.post(paths.token, { device_code: deviceCode }),
          400,
          "authorization_pending",
        );
        await new IdpUserAgent().approveDevice(
          String(started.json.verification_uri_complete),
          user.username,
          user.password,
        );
        // Respect the IdP's polling interval, or it answers slow_down.
        await new Promise((resolve) => setTimeout(resolve, Number(started.json.interval) * 1000));
        assertTokenReply(await http.post(paths.token, { "device-code": deviceCode }));
      });

      it("passes access_denied through when the user denies the device", async () => {
        const started = remember(await http.post(paths.device));
        await new IdpUserAgent().denyDevice(
          String(started.json.verification_uri_complete),
          user.username,
          user.password,
        );
        await new Promise((resolve) => setTimeout(resolve, Number(started.json.interval) * 1000));
        assertError(
          await http.post(paths.token, { device_code: String(started.json.device_code) }),
          400,
          "access_denied",
        );
      });
    });

    describe("logout and userinfo", () => {
      it("redirects to the IdP's end-session endpoint with client_id, id_token_hint and an allowed URI", async () => {
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK);
        const tokens = remember(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`),
        );
        const idToken = String(tokens.json.id_token);
        const reply = await http.get(
          `${paths.logout}?post_logout_redirect_uri=${encodeURIComponent(WEB_LOGOUT)}&id_token_hint=${idToken}`,
        );
        assert.equal(reply.status, 302);
        const location = new URL(reply.headers.get("location") ?? "");
        assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/session/end`);
        assert.equal(location.searchParams.get("client_id"), idp.confidentialClient.clientId);
        assert.equal(location.searchParams.get("id_token_hint"), idToken);
        assert.equal(location.searchParams.get("post_logout_redirect_uri"), WEB_LOGOUT);
      });

      it("never forwards a post_logout_redirect_uri off the allow-list", async () => {
        const reply = await http.get(
          `${paths.logout}?post_logout_redirect_uri=${encodeURIComponent("https://evil.example.org/")}`,
        );
        assert.equal(reply.status, 302);
        const location = reply.headers.get("location") ?? "";
        assert.doesNotMatch(decodeURIComponent(location), /evil/);
        assert.equal(
          new URL(location).searchParams.get("client_id"),
          idp.confidentialClient.clientId,
        );
      });

      it("without an end-session endpoint redirects to the allowed URI, else to /", async () => {
        const plainIdp = await startDevIdp({ ...IDP_OPTIONS, endSession: false });
        idps.push(plainIdp);
        const plain = await startClient(adapter, authOptions(plainIdp), apps);
        const allowed = await plain.get(
          `${paths.logout}?post_logout_redirect_uri=${encodeURIComponent(WEB_LOGOUT)}`,
        );
        assert.equal(allowed.status, 302);
        assert.equal(allowed.headers.get("location"), WEB_LOGOUT);
        const evil = await plain.get(
          `${paths.logout}?post_logout_redirect_uri=${encodeURIComponent("https://evil.example.org/")}`,
        );
        assert.equal(evil.headers.get("location"), "/");
        assert.equal((await plain.get(paths.logout)).headers.get("location"), "/");
      });

      it("answers userinfo from the token's claims, and 401 without a token", async () => {
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK, "", bob);
        const tokens = remember(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`),
        );
        const reply = await http.get(paths.userinfo, bearer(String(tokens.json.access_token)));
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.json, {
          username: "bob",
          first_name: "Bob",
          last_name: "Builder",
          email: "bob@example.org",
          pw_name: "bob",
        });
        assertError(await http.get(paths.userinfo), 401);
      });
    });

    describe("guards", () => {
      it("admits a valid token and applies scope and claim requirements", async () => {
        const alice = await signWithIdpKey(
          idp,
          validClaims(idp, { realm_access: { roles: ["admin"] } }),
        );
        const plain = await signWithIdpKey(idp, validClaims(idp));
        assert.equal((await http.get("/me", bearer(alice))).status, 200);
        assert.equal((await http.get("/scoped", bearer(alice))).status, 200);
        assertError(await http.get("/admin-scope", bearer(alice)), 403, "insufficient_scope");
        assert.equal((await http.get("/admins", bearer(alice))).status, 200);
        assertError(await http.get("/admins", bearer(plain)), 403);
        const noMyscope = await signWithIdpKey(idp, validClaims(idp, { scope: "openid profile" }));
        assertError(await http.get("/scoped", bearer(noMyscope)), 403);
      });

      it("answers 401 with WWW-Authenticate without a token, and optional() sees anonymous", async () => {
        const reply = await http.get("/me");
        assertError(reply, 401);
        // RFC 6750 §3.1: no error code when the request carries no credentials; RFC 9728 §5.1: where the metadata is.
        assert.match(
          reply.headers.get("www-authenticate") ?? "",
          /^Bearer resource_metadata="http:\/\/[^"]+\/\.well-known\/oauth-protected-resource"$/,
        );
        assertError(await http.get("/me", { authorization: "Basic dXNlcjpwYXNz" }), 401);
        assert.deepEqual((await http.get("/maybe-me")).json, { anonymous: true });
      });

      it("rejects every forged token with 401, and optional() treats it as anonymous", async () => {
        for (const [attack, token] of Object.entries(await forgedTokens(idp))) {
          const reply = await http.get("/me", bearer(token));
          assertError(reply, 401);
          assert.match(
            reply.headers.get("www-authenticate") ?? "",
            /error="invalid_token"/,
            attack,
          );
          assert.deepEqual(
            (await http.get("/maybe-me", bearer(token))).json,
            { anonymous: true },
            attack,
          );
        }
      });

      it("optional() with an unmet requirement is anonymous, with a met one sees the token", async () => {
        const plain = await signWithIdpKey(idp, validClaims(idp));
        assert.deepEqual((await http.get("/maybe-admin", bearer(plain))).json, { anonymous: true });
        const admin = await signWithIdpKey(
          idp,
          validClaims(idp, { realm_access: { roles: ["admin"] } }),
        );
        assert.equal(
          (await http.get("/maybe-admin", bearer(admin))).json.sub,
          "forged-test-subject",
        );
      });

      it("accepts tokens of a rotated IdP key without a restart", async () => {
        const before = await signWithIdpKey(idp, validClaims(idp));
        assert.equal((await http.get("/me", bearer(before))).status, 200);
        const newKid = await idp.rotateSigningKey();
        const afterRotation = await signWithIdpKey(idp, validClaims(idp));
        assert.equal(idp.signingKey().kid, newKid);
        assert.equal((await http.get("/me", bearer(afterRotation))).status, 200);
      });

      it("answers 503 when the IdP is down and no key is cached, and keeps using cached keys", async () => {
        const downIdp = await startDevIdp(IDP_OPTIONS);
        const token = await signWithIdpKey(downIdp, validClaims(downIdp));
        const down = await startClient(adapter, authOptions(downIdp, { timeoutMs: 2000 }), apps);
        const cached = await startClient(adapter, authOptions(downIdp, { jwksMaxAgeMs: 1 }), apps);
        assert.equal((await cached.get("/me", bearer(token))).status, 200);
        await downIdp.stop();
        // Keys already fetched stay in use while the IdP is down, even past their age.
        assert.equal((await cached.get("/me", bearer(token))).status, 200);
        const reply = await down.get("/me", bearer(token));
        assertError(reply, 503);
        assertError(await down.get("/maybe-me", bearer(token)), 503);
        assertError(await down.post(paths.device), 503);
      });
    });

    describe("bad input", () => {
      const cases: Array<[string, (client: TestClient) => Promise<Reply>, number]> = [
        ["login without redirect_uri", (c) => c.get(paths.login), 400],
        [
          "login with a repeated redirect_uri",
          (c) =>
            c.get(
              `${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}&redirect_uri=${encodeURIComponent(WEB_CALLBACK)}`,
            ),
          400,
        ],
        [
          "login with a plain code_challenge_method",
          (c) =>
            c.get(
              `${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}&code_challenge=${"a".repeat(43)}&code_challenge_method=plain`,
            ),
          400,
        ],
        ["callback without code", (c) => c.get(`${paths.callback}?state=x`), 400],
        ["callback without state", (c) => c.get(`${paths.callback}?code=x`), 400],
        [
          "callback with an IdP error",
          (c) => c.get(`${paths.callback}?error=access_denied&state=x`),
          400,
        ],
        ["token without any grant", (c) => c.post(paths.token, {}), 400],
        [
          "token with two grants",
          (c) => c.post(paths.token, { refresh_token: "a", device_code: "b" }),
          400,
        ],
        [
          "token with a repeated refresh_token",
          (c) => c.post(paths.token, "refresh_token=a&refresh_token=b"),
          400,
        ],
        [
          "token with refresh_token and refresh-token",
          (c) => c.post(paths.token, "refresh_token=a&refresh-token=b"),
          400,
        ],
        [
          "token with code but no verifier",
          (c) => c.post(paths.token, { code: "x", redirect_uri: WEB_CALLBACK }),
          400,
        ],
        [
          "token with a malformed code_verifier",
          (c) =>
            c.post(paths.token, { code: "x", redirect_uri: WEB_CALLBACK, code_verifier: "short" }),
          400,
        ],
        [
          "token with an unknown grant_type",
          (c) => c.post(paths.token, { grant_type: "password" }),
          400,
        ],
        [
          "token with token exchange outside broker mode",
          (c) =>
            c.post(paths.token, {
              grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
              subject_token: "x",
            }),
          400,
        ],
        [
          "token with a JSON body",
          (c) => c.post(paths.token, JSON.stringify({ refresh_token: "a" }), "application/json"),
          415,
        ],
        [
          "token without a content type",
          (c) => c.post(paths.token, "refresh_token=a", "text/plain"),
          415,
        ],
        [
          "token with a 1 MB body",
          (c) => c.post(paths.token, `refresh_token=${"a".repeat(1024 * 1024)}`),
          413,
        ],
        [
          "token with a non-UTF-8 body",
          // r=\xff\xfe: raw bytes, as a string would be sent UTF-8 encoded.
          (c) => c.post(paths.token, new Uint8Array([0x72, 0x3d, 0xff, 0xfe])),
          400,
        ],
      ];
      for (const [name, request, status] of cases) {
        it(`answers ${status} JSON to ${name}`, async () => {
          assertError(await request(http), status);
        });
      }
    });

    describe("claims, as py-oidc-auth reads them", () => {
      const withRoles = (roles: string[], extra = {}) =>
        signWithIdpKey(idp, validClaims(idp, { realm_access: { roles }, ...extra }));

      it("requires every listed value, and any of them only when asked with anyOf", async () => {
        assert.equal(
          (await http.get("/all-roles", bearer(await withRoles(["admin", "user"])))).status,
          200,
        );
        assertError(await http.get("/all-roles", bearer(await withRoles(["user"]))), 403);
        assert.equal(
          (await http.get("/any-role", bearer(await withRoles(["auditor"])))).status,
          200,
        );
        assertError(await http.get("/any-role", bearer(await withRoles(["user"]))), 403);
      });

      it("lets a route's claims replace the configured ones", async () => {
        const strict = await startClient(
          adapter,
          authOptions(idp, { claims: { roles: "root" } }),
          apps,
        );
        const plain = bearer(await withRoles(["user"]));
        assertError(await strict.get("/me", plain), 403);
        assert.equal((await strict.get("/no-claims", plain)).status, 200);
        assertError(await strict.get("/any-role", plain), 403);
      });

      it("matches Keycloak role paths against broker tokens and a peer broker's tokens", async () => {
        const brokered = (overrides: Partial<OIDCAuthOptions> = {}) =>
          authOptions(idp, {
            brokerMode: true,
            brokerStore: new MemoryBrokerStore(),
            brokerAudience: BROKER_AUDIENCE,
            proxy: "https://app.example.org",
            ...overrides,
          });
        const peer = await startClient(
          adapter,
          brokered({ proxy: "https://peer.example.org" }),
          apps,
        );
        const broker = await startClient(
          adapter,
          brokered({
            trustedIssuers: [
              {
                issuer: `https://peer.example.org${PREFIX}`,
                jwksUri: `${peer.baseUrl}${PREFIX}/auth/v2/.well-known/jwks.json`,
              },
            ],
          }),
          apps,
        );
        const exchange = async (at: TestClient, roles: string[]) => {
          const reply = await at.post(paths.token, {
            grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
            subject_token: await withRoles(roles),
          });
          assert.equal(reply.status, 200, reply.text);
          const token = String(remember(reply).json.access_token);
          assert.equal(decodeJwt(token).realm_access, undefined, "broker tokens carry flat roles");
          return bearer(token);
        };
        for (const at of [broker, peer]) {
          const both = await exchange(at, ["admin", "user"]);
          assert.equal((await broker.get("/all-roles", both)).status, 200);
          assert.equal((await broker.get("/any-role", both)).status, 200);
          assertError(await broker.get("/all-roles", await exchange(at, ["user"])), 403);
        }
      });

      it("reads py-oidc-auth's userinfo claim names and the exchange's user name fallbacks", async () => {
        const token = await signWithIdpKey(
          idp,
          validClaims(idp, {
            user_name: "carol",
            mail: "carol@example.org",
            "first-name": "Carol",
            surname: "Singer",
          }),
        );
        const reply = await http.get(paths.userinfo, bearer(token));
        assert.deepEqual(reply.json, {
          username: "carol",
          first_name: "Carol",
          last_name: "Singer",
          email: "carol@example.org",
          pw_name: "carol",
        });
        const broker = await startClient(
          adapter,
          authOptions(idp, {
            brokerMode: true,
            brokerStore: new MemoryBrokerStore(),
            proxy: "https://app.example.org",
          }),
          apps,
        );
        for (const [claims, expected] of [
          [{ username: "dave" }, "dave"],
          [{ user_name: "erin" }, "erin"],
          [{}, "forged-test-subject"],
        ] as const) {
          const exchanged = await broker.post(paths.token, {
            grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
            subject_token: await signWithIdpKey(idp, validClaims(idp, claims)),
          });
          assert.equal(exchanged.status, 200, exchanged.text);
          const minted = decodeJwt(String(remember(exchanged).json.access_token));
          assert.equal(minted.preferred_username, expected, JSON.stringify(claims));
        }
      });
    });

    describe("broker mode", () => {
      // The issuer is proxy + the router prefix: each adapter must tell the core its prefix.
      const issuer = `https://app.example.org${PREFIX}`;
      const brokerOptions = (): OIDCAuthOptions =>
        authOptions(idp, {
          brokerMode: true,
          brokerStore: new MemoryBrokerStore(),
          brokerAudience: BROKER_AUDIENCE,
          proxy: "https://app.example.org",
          refreshGraceSeconds: 0,
        });

      it("mints tokens the guards accept, and serves the JWKS and metadata below the prefix", async () => {
        const broker = await startClient(adapter, brokerOptions(), apps);
        const { code, state } = await loginAtIdp(broker, WEB_CALLBACK);
        const tokens = await broker.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertTokenReply(tokens);
        const claims = decodeJwt(String(tokens.json.access_token));
        assert.equal(claims.iss, issuer);
        assert.equal(claims.aud, BROKER_AUDIENCE);
        const me = await broker.get("/me", bearer(String(tokens.json.access_token)));
        assert.equal(me.json.username, "alice", me.text);
        assertError(
          await broker.get("/admin-scope", bearer(String(tokens.json.access_token))),
          403,
        );
        const jwks = await broker.get(`${PREFIX}/auth/v2/.well-known/jwks.json`);
        assert.equal(jwks.status, 200, jwks.text);
        assert.ok(Array.isArray(jwks.json.keys) && jwks.json.keys.length > 0);
        for (const document of ["openid-configuration", "oauth-authorization-server"]) {
          const metadata = await broker.get(`${PREFIX}/.well-known/${document}`);
          assert.equal(metadata.status, 200, metadata.text);
          assert.equal(metadata.json.jwks_uri, `${issuer}/auth/v2/.well-known/jwks.json`);
        }
      });

      it("rotates refresh tokens, revokes the session on reuse, and exchanges IdP tokens", async () => {
        const broker = await startClient(adapter, brokerOptions(), apps);
        const { code, state } = await loginAtIdp(broker, WEB_CALLBACK);
        const first = remember(
          await broker.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`),
        );
        const second = await broker.post(paths.token, {
          refresh_token: String(first.json.refresh_token),
        });
        assertTokenReply(second);
        assertError(
          await broker.post(paths.token, { "refresh-token": String(first.json.refresh_token) }),
          401,
          "invalid_grant",
        );
        assertError(
          await broker.post(paths.token, { refresh_token: String(second.json.refresh_token) }),
          401,
          "invalid_grant",
        );
        const exchanged = await broker.post(paths.token, {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          subject_token: await signWithIdpKey(idp, validClaims(idp)),
        });
        assertTokenReply(exchanged);
        assert.equal(decodeJwt(String(exchanged.json.access_token)).iss, issuer);
      });
    });

    describe("broker token revocation (RFC 7009) and introspection (RFC 7662)", () => {
      const issuer = `https://app.example.org${PREFIX}`;
      const revokePath = `${PREFIX}/auth/v2/revoke`;
      const introspectPath = `${PREFIX}/auth/v2/introspect`;
      const lifecycleOptions = (): OIDCAuthOptions =>
        authOptions(idp, {
          brokerMode: true,
          brokerStore: new MemoryBrokerStore(),
          brokerAudience: BROKER_AUDIENCE,
          proxy: "https://app.example.org",
          refreshGraceSeconds: 0,
          brokerIntrospectionClients: [RESOURCE_SERVER],
        });
      const login = async (broker: TestClient) => {
        const { code, state } = await loginAtIdp(broker, WEB_CALLBACK);
        const tokens = await broker.get(
          `${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`,
        );
        assertTokenReply(tokens);
        return {
          access: String(tokens.json.access_token),
          refresh: String(tokens.json.refresh_token),
        };
      };

      it("lists both endpoints in the metadata, and openid-client introspects broker tokens with it", async () => {
        const broker = await startClient(adapter, lifecycleOptions(), apps);
        const metadata = await broker.get(`${PREFIX}/.well-known/oauth-authorization-server`);
        assert.equal(metadata.json.revocation_endpoint, `${issuer}/auth/v2/revoke`);
        assert.equal(metadata.json.introspection_endpoint, `${issuer}/auth/v2/introspect`);
        assert.deepEqual(metadata.json.introspection_endpoint_auth_methods_supported, [
          "client_secret_basic",
        ]);
        const { access, refresh } = await login(broker);
        const rs = await discoverBroker(
          issuer,
          broker,
          RESOURCE_SERVER.clientId,
          oidcClient.ClientSecretBasic(RESOURCE_SERVER.clientSecret),
        );
        const claims = decodeJwt(access);
        const active = await oidcClient.tokenIntrospection(rs, access);
        assert.equal(active.active, true);
        assert.equal(active.token_type, "Bearer");
        assert.equal(active.username, "alice");
        assert.equal(active.sub, claims.sub);
        assert.equal(active.aud, BROKER_AUDIENCE);
        assert.equal(active.iss, issuer);
        assert.equal(active.jti, claims.jti);
        assert.equal(active.sid, claims.sid);
        assert.equal(active.exp, claims.exp);
        assert.equal(active.iat, claims.iat);
        assert.equal(active.scope, claims.scope);
        const refreshInfo = await oidcClient.tokenIntrospection(rs, refresh, {
          token_type_hint: "refresh_token",
        });
        assert.equal(refreshInfo.active, true);
        assert.equal(refreshInfo.token_type, "refresh_token");
        assert.equal(refreshInfo.sub, claims.sub);
        assert.equal(refreshInfo.sid, claims.sid);
        // Garbage, the IdP's own token, and a token of no one here are all inactive.
        for (const other of [
          "garbage",
          `rt.${"x".repeat(43)}`,
          await signWithIdpKey(idp, validClaims(idp)),
        ]) {
          assert.deepEqual(await oidcClient.tokenIntrospection(rs, other), { active: false });
        }
        // A rotated refresh token is no longer active.
        await broker.post(paths.token, { refresh_token: refresh });
        assert.equal((await oidcClient.tokenIntrospection(rs, refresh)).active, false);
      });

      it("never answers an unauthenticated or wrongly authenticated caller: 401 invalid_client", async () => {
        const broker = await startClient(adapter, lifecycleOptions(), apps);
        const { access } = await login(broker);
        const callers = [
          undefined,
          bearer(access).authorization,
          basic(RESOURCE_SERVER.clientId, "wrong-secret-0123456789"),
          basic("someone-else", RESOURCE_SERVER.clientSecret),
          basic(RESOURCE_SERVER.clientId, ""),
          "Basic !!!not-base64",
          `Basic ${Buffer.from("no-colon").toString("base64")}`,
        ];
        for (const authorization of callers) {
          const reply = await postWithAuthorization(
            broker,
            introspectPath,
            { token: access },
            authorization,
          );
          assertError(reply, 401, "invalid_client");
          assert.equal(reply.json.active, undefined);
          assert.match(reply.headers.get("www-authenticate") ?? "", /^Basic /);
        }
        const stranger = await discoverBroker(
          issuer,
          broker,
          RESOURCE_SERVER.clientId,
          oidcClient.ClientSecretBasic("not-the-secret-0123456789"),
        );
        await assert.rejects(oidcClient.tokenIntrospection(stranger, access));
        // Authenticated, but without a token: 400.
        assertError(
          await postWithAuthorization(
            broker,
            introspectPath,
            {},
            basic(RESOURCE_SERVER.clientId, RESOURCE_SERVER.clientSecret),
          ),
          400,
          "invalid_request",
        );
      });

      it("revokes the session of a refresh token or an access token with openid-client's tokenRevocation", async () => {
        const broker = await startClient(adapter, lifecycleOptions(), apps);
        // The broker's clients are public: no client authentication.
        const app = await discoverBroker(issuer, broker, "any-public-client", oidcClient.None());
        const rs = await discoverBroker(
          issuer,
          broker,
          RESOURCE_SERVER.clientId,
          oidcClient.ClientSecretBasic(RESOURCE_SERVER.clientSecret),
        );
        const first = await login(broker);
        await oidcClient.tokenRevocation(app, first.refresh, { token_type_hint: "refresh_token" });
        assertError(
          await broker.post(paths.token, { refresh_token: first.refresh }),
          401,
          "invalid_grant",
        );
        // Introspection knows at once; the stateless access token still passes guards until exp.
        assert.equal((await oidcClient.tokenIntrospection(rs, first.access)).active, false);
        assert.equal((await broker.get("/me", bearer(first.access))).status, 200);

        const second = await login(broker);
        await oidcClient.tokenRevocation(app, second.access);
        assertError(
          await broker.post(paths.token, { refresh_token: second.refresh }),
          401,
          "invalid_grant",
        );

        // RFC 7009 §2.2: unknown and invalid tokens are a 200 too, a wrong hint changes nothing.
        const third = await login(broker);
        await oidcClient.tokenRevocation(app, "not-a-token");
        await oidcClient.tokenRevocation(app, `rt.${"y".repeat(43)}`);
        await oidcClient.tokenRevocation(app, await signWithIdpKey(idp, validClaims(idp)));
        const unknown = await broker.post(revokePath, { token: "garbage", token_type_hint: "odd" });
        assert.equal(unknown.status, 200, unknown.text);
        assert.equal(unknown.headers.get("cache-control"), "no-store");
        assertTokenReply(await broker.post(paths.token, { refresh_token: third.refresh }));
        // §2.2.1: only a malformed request is an error.
        assertError(await broker.post(revokePath, {}), 400, "invalid_request");
        assertError(await broker.post(revokePath, "token=a&token=b"), 400, "invalid_request");
      });

      it("follows renamed paths into the metadata, and has neither endpoint in passthrough mode", async () => {
        const broker = await startClient(adapter, lifecycleOptions(), apps, {
          prefix: PREFIX,
          revocation: "/oauth/revoke",
          introspection: null,
        });
        const metadata = await broker.get(`${PREFIX}/.well-known/openid-configuration`);
        assert.equal(metadata.json.revocation_endpoint, `${issuer}/oauth/revoke`);
        assert.equal(metadata.json.introspection_endpoint, undefined);
        assert.equal((await broker.post(`${PREFIX}/oauth/revoke`, { token: "x" })).status, 200);
        assert.equal((await broker.post(introspectPath, { token: "x" })).status, 404);
        assert.equal((await http.post(revokePath, { token: "x" })).status, 404);
        assert.equal((await http.post(introspectPath, { token: "x" })).status, 404);
      });
    });

    describe("browser sessions", () => {
      const sessionOptions = (overrides: Partial<OIDCAuthOptions> = {}) =>
        authOptions(idp, {
          browserSessions: { rollingSeconds: 600, absoluteSeconds: 3600 },
          allowedRedirectUris: [`http://127.0.0.1${paths.callback}`],
          ...overrides,
        });

      /** /login as a page of the app sends the browser there, up to the IdP's redirect back. */
      async function startBrowserLogin(browser: BrowserClient, returnTo = SESSION_ROUTE) {
        const callbackUri = `${browser.http.baseUrl}${paths.callback}`;
        const started = await browser.get(
          `${paths.login}?redirect_uri=${encodeURIComponent(callbackUri)}&return_to=${encodeURIComponent(returnTo)}`,
        );
        assert.equal(started.status, 302, started.text);
        const back = await new IdpUserAgent().authorize(
          new URL(started.headers.get("location") ?? ""),
          user.username,
          user.password,
        );
        return { started, callback: `${paths.callback}${back.search}`, back };
      }

      async function browserLogin(app: TestClient, jar = new CookieJar()) {
        const browser = new BrowserClient(app, jar);
        const { callback } = await startBrowserLogin(browser);
        const done = await browser.get(callback);
        assert.equal(done.status, 303, done.text);
        return browser;
      }

      it("logs in: login cookie, 303 back to the page, a session the guard admits, no token JSON", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const browser = new BrowserClient(app);
        const { started, callback } = await startBrowserLogin(browser);
        const [loginCookie = ""] = started.headers.getSetCookie();
        assert.match(loginCookie, /^oidc-session-login=[\w-]+\.[\w.-]+; /);
        assert.match(loginCookie, /; HttpOnly/);
        assert.match(loginCookie, /; SameSite=Lax/);
        assert.match(loginCookie, /; Path=\//);
        assert.doesNotMatch(loginCookie, /Secure/, "plain http on loopback: no Secure");
        const done = await browser.get(callback);
        assert.equal(done.status, 303, done.text);
        assert.equal(done.headers.get("location"), `${app.baseUrl}${SESSION_ROUTE}`);
        assert.equal(done.text, "");
        assert.ok(browser.jar.cookies.has("oidc-session"));
        assert.ok(!browser.jar.cookies.has("oidc-session-login"), "the login cookie is cleared");
        const me = await browser.get(SESSION_ROUTE);
        assert.equal(me.status, 200, me.text);
        assert.equal(me.json.username, "alice");
        assert.equal(me.json.via, "session");
        assert.ok(Number(me.json.accessTokenLength) > 0);
        assertError(await app.get(SESSION_ROUTE), 401);
      });

      it("refuses a callback without the login cookie, and the code with its state at /token", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const first = await startBrowserLogin(new BrowserClient(app));
        assertError(await app.get(first.callback), 400, "invalid_grant");
        const second = await startBrowserLogin(new BrowserClient(app));
        const state = second.back.searchParams.get("state") ?? "";
        const reply = await app.post(paths.token, {
          code: second.back.searchParams.get("code") ?? "",
          redirect_uri: `${app.baseUrl}${paths.callback}`,
          code_verifier: state.slice(state.lastIndexOf("|") + 1),
        });
        assertError(reply, 400, "invalid_grant");
        assert.match(String(reply.json.detail), /bound to the browser/);
      });

      it("refuses a swapped state and a replayed one", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const mine = new BrowserClient(app);
        await startBrowserLogin(mine);
        const theirs = await startBrowserLogin(new BrowserClient(app));
        const swapped = await mine.get(theirs.callback);
        assertError(swapped, 400, "invalid_grant");
        assert.match(String(swapped.json.detail), /another login/);
        const browser = new BrowserClient(app);
        const { callback } = await startBrowserLogin(browser);
        const beforeCallback = browser.jar.copy();
        assert.equal((await browser.get(callback)).status, 303);
        assertError(
          await new BrowserClient(app, beforeCallback).get(callback),
          400,
          "invalid_grant",
        );
      });

      it("refuses a tampered session cookie and clears it", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const browser = await browserLogin(app);
        const sealed = browser.jar.cookies.get("oidc-session") ?? "";
        const at = sealed.length - 10;
        browser.jar.cookies.set(
          "oidc-session",
          `${sealed.slice(0, at)}${sealed[at] === "A" ? "B" : "A"}${sealed.slice(at + 1)}`,
        );
        const reply = await browser.get(SESSION_ROUTE);
        assertError(reply, 401);
        assert.ok(!browser.jar.cookies.has("oidc-session"), "the bad cookie is cleared");
        assert.deepEqual((await browser.get("/maybe-me")).json, { anonymous: true });
      });

      it("refuses a session past its lifetime", async () => {
        const app = await startClient(
          adapter,
          // 3 s: the first request must still fall inside it on a loaded machine.
          sessionOptions({ browserSessions: { rollingSeconds: 3, absoluteSeconds: 3 } }),
          apps,
        );
        const browser = await browserLogin(app);
        const kept = browser.jar.copy();
        assert.equal((await browser.get(SESSION_ROUTE)).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 3600));
        assertError(await new BrowserClient(app, kept).get(SESSION_ROUTE), 401);
      });

      it("refuses an unsafe method without a same-origin proof; bearer requests need none", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const browser = await browserLogin(app);
        const crossSite: Array<Record<string, string>> = [
          {},
          { "sec-fetch-site": "cross-site" },
          { "sec-fetch-site": "same-site" },
          { origin: "https://evil.example.org" },
          { "sec-fetch-site": "cross-site", origin: app.baseUrl },
        ];
        for (const headers of crossSite) {
          const refused = await browser.post(SESSION_ROUTE, headers);
          assertError(refused, 403);
        }
        const sameOrigin: Array<Record<string, string>> = [
          { "sec-fetch-site": "same-origin" },
          { origin: app.baseUrl },
        ];
        for (const headers of sameOrigin) {
          const allowed = await browser.post(SESSION_ROUTE, headers);
          assert.equal(allowed.status, 200, allowed.text);
          assert.equal(allowed.json.via, "session");
        }
        const { code, state } = await loginAtIdp(http, WEB_CALLBACK);
        const tokens = remember(
          await http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`),
        );
        const viaBearer = await app.request(
          SESSION_ROUTE,
          "POST",
          bearer(String(tokens.json.access_token)),
        );
        assert.equal(viaBearer.status, 200, viaBearer.text);
        assert.equal(viaBearer.json.via, "bearer");
      });

      it("refreshes the IdP tokens behind the scenes once the access token expires", async () => {
        const shortIdp = await startDevIdp({ ...IDP_OPTIONS, accessTokenTtlSeconds: 2 });
        idps.push(shortIdp);
        const app = await startClient(
          adapter,
          {
            ...sessionOptions(),
            discoveryUrl: shortIdp.discoveryUrl,
            clientSecret: shortIdp.confidentialClient.clientSecret,
            audience: shortIdp.audience,
          },
          apps,
        );
        const browser = await browserLogin(app);
        const before = browser.jar.cookies.get("oidc-session");
        await new Promise((resolve) => setTimeout(resolve, 2100));
        const [a, b] = await Promise.all([
          new BrowserClient(app, browser.jar.copy()).get(SESSION_ROUTE),
          browser.get(SESSION_ROUTE),
        ]);
        assert.equal(a.status, 200, a.text);
        assert.equal(b.status, 200, b.text);
        assert.notEqual(browser.jar.cookies.get("oidc-session"), before, "a renewed cookie");
      });

      it("logout clears the session and goes on to the IdP's end-session endpoint", async () => {
        const app = await startClient(adapter, sessionOptions(), apps);
        const browser = await browserLogin(app);
        const reply = await browser.get(paths.logout);
        assert.equal(reply.status, 302);
        const location = new URL(reply.headers.get("location") ?? "");
        assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/session/end`);
        assert.ok(location.searchParams.get("id_token_hint"), "the session's ID token as the hint");
        assert.ok(!browser.jar.cookies.has("oidc-session"));
        assertError(await browser.get(SESSION_ROUTE), 401);
      });

      it("broker store: logout at one instance ends the session at every instance sharing the store", async () => {
        const store = new MemoryBrokerStore();
        const brokerSessions = () =>
          sessionOptions({
            brokerMode: true,
            brokerStore: store,
            brokerAudience: BROKER_AUDIENCE,
            brokerIssuer: "https://broker.example.org",
          });
        const one = await startClient(adapter, brokerSessions(), apps);
        const two = await startClient(adapter, brokerSessions(), apps);
        const browser = await browserLogin(one);
        const atTwo = new BrowserClient(two, browser.jar.copy());
        const before = await atTwo.get(SESSION_ROUTE);
        assert.equal(before.status, 200, before.text);
        assert.equal(before.json.via, "session");
        assert.equal((await browser.get(paths.logout)).status, 302);
        assertError(await atTwo.get(SESSION_ROUTE), 401);
        assert.ok(!atTwo.jar.cookies.has("oidc-session"), "the ended session's cookie is cleared");
      });
    });

    describe("custom routes and configuration", () => {
      it("serves a route the user added to the auth router (the seed's auth-ports)", async () => {
        const reply = await http.get(`${PREFIX}/auth/v2/auth-ports`);
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.json, AUTH_PORTS);
      });

      it("renames an endpoint or switches it off", async () => {
        const renamed = await startClient(adapter, authOptions(idp), apps, {
          prefix: PREFIX,
          login: "/signin",
          userinfo: null,
        });
        const signin = await renamed.get(
          `${PREFIX}/signin?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}`,
        );
        assert.equal(signin.status, 302);
        assert.ok(signin.headers.get("location")?.startsWith(`${idp.issuer}/auth?`));
        assert.equal(
          (await renamed.get(`${paths.login}?redirect_uri=${encodeURIComponent(WEB_CALLBACK)}`))
            .status,
          404,
        );
        assert.equal((await renamed.get(paths.userinfo)).status, 404);
        assert.equal((await renamed.post(paths.device)).status, 200, "the others stay");
      });

      it("works as a public client, and against an IdP that only offers client_secret_post", async () => {
        const publicApp = await startClient(
          adapter,
          authOptions(idp, { clientId: idp.publicClient.clientId, clientSecret: undefined }),
          apps,
        );
        const viaPublic = await loginAtIdp(publicApp, WEB_CALLBACK);
        assertTokenReply(
          await publicApp.get(
            `${paths.callback}?code=${viaPublic.code}&state=${encodeURIComponent(viaPublic.state)}`,
          ),
        );
        const postOnlyIdp = await startDevIdp({
          ...IDP_OPTIONS,
          tokenEndpointAuthMethods: ["client_secret_post"],
        });
        idps.push(postOnlyIdp);
        const postOnly = await startClient(adapter, authOptions(postOnlyIdp), apps);
        const viaPost = await loginAtIdp(postOnly, WEB_CALLBACK);
        assertTokenReply(
          await postOnly.get(
            `${paths.callback}?code=${viaPost.code}&state=${encodeURIComponent(viaPost.state)}`,
          ),
        );
      });
    });
  });
}

describe("leaks", () => {
  it("no error body and no log line contains a token, a verifier or the client secret", () => {
    assert.ok(secrets.size > 5, "the suite saw tokens to look for");
    const errorBodies = clients.flatMap((c) => c.bodies).filter((body) => body.includes('"error"'));
    for (const secret of secrets) {
      for (const text of [...errorBodies, ...logLines]) {
        assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 80)}`);
      }
    }
  });
});

describe("token endpoint without any body", () => {
  for (const adapter of ADAPTERS) {
    it(`${adapter.name}: answers 400 invalid_request (no grant), not 415`, async () => {
      const idp = await startDevIdp(IDP_OPTIONS);
      const apps: RunningApp[] = [];
      try {
        const http = await startClient(adapter, authOptions(idp), apps);
        // No Content-Type and no body, as `curl -X POST` sends.
        const response = await fetch(new URL(paths.token, http.baseUrl), { method: "POST" });
        const reply = { status: response.status, headers: response.headers, text: "", json: {} };
        reply.json = (await response.json()) as Record<string, unknown>;
        assertError(reply, 400, "invalid_request");
      } finally {
        await Promise.all(apps.map((app) => app.close()));
        await idp.stop();
      }
    });
  }
});
