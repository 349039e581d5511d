/**
 * The dev IdP, exercised over real HTTP with openid-client (as a relying party would) and the
 * programmatic user agent (as a user's browser would).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import * as client from "openid-client";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { IdpUserAgent, IdpUserAgentError } from "../dev-idp/user-agent.ts";

const FULL_SCOPE = "openid profile email offline_access myscope";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

type Tokens = Awaited<ReturnType<typeof client.authorizationCodeGrant>>;

/** A redirect URI on a random loopback port: nothing listens there, the user agent stops before. */
function loopbackRedirect(host = "127.0.0.1", path = "/auth/v2/callback"): string {
  const port = 20000 + Math.floor(Math.random() * 40000);
  return `http://${host}:${port}${path}`;
}

async function rpConfig(
  idp: DevIdp,
  kind: "confidential" | "public",
  auth?: (secret: string) => client.ClientAuth,
): Promise<client.Configuration> {
  const options = { execute: [client.allowInsecureRequests] };
  if (kind === "public") {
    return client.discovery(
      new URL(idp.issuer),
      idp.publicClient.clientId,
      undefined,
      client.None(),
      options,
    );
  }
  const { clientId, clientSecret } = idp.confidentialClient;
  const authentication = (auth ?? client.ClientSecretBasic)(clientSecret);
  return client.discovery(
    new URL(idp.issuer),
    clientId,
    { client_secret: clientSecret },
    authentication,
    options,
  );
}

interface LoginResult {
  tokens: Tokens;
  nonce: string;
  callback: URL;
}

/** A complete authorization code + PKCE flow through the IdP's login form. */
async function login(
  config: client.Configuration,
  agent: IdpUserAgent,
  username: string,
  options: { redirectUri?: string; scope?: string } = {},
): Promise<LoginResult> {
  const redirectUri = options.redirectUri ?? loopbackRedirect();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: options.scope ?? FULL_SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const callback = await agent.authorize(url, username, `${username}-password`);
  assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  return { tokens, nonce, callback };
}

async function verifyAccessToken(idp: DevIdp, token: string): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
  const { payload } = await jwtVerify(token, jwks, {
    issuer: idp.issuer,
    audience: idp.audience,
    algorithms: ["RS256"],
    typ: "at+jwt",
  });
  return payload;
}

function scopesOf(payload: JWTPayload): string[] {
  assert.equal(typeof payload.scope, "string");
  return String(payload.scope).split(" ");
}

async function jwksKids(idp: DevIdp): Promise<string[]> {
  const body: unknown = await (await fetch(`${idp.issuer}/jwks`)).json();
  assert.ok(
    typeof body === "object" && body !== null && "keys" in body && Array.isArray(body.keys),
  );
  return body.keys.map((key: unknown) => (key as { kid?: unknown }).kid).map(String);
}

function isOAuthError(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(
      error instanceof client.ResponseBodyError,
      `expected an OAuth error response, got ${String(error)}`,
    );
    assert.equal(error.error, code);
    return true;
  };
}

describe("dev IdP", () => {
  let idp: DevIdp;
  before(async () => {
    idp = await startDevIdp();
  });
  after(async () => {
    await idp.stop();
  });

  it("publishes a discovery document with every endpoint", async () => {
    const response = await fetch(idp.discoveryUrl);
    assert.equal(response.status, 200);
    const doc = (await response.json()) as Record<string, unknown>;
    assert.equal(doc.issuer, idp.issuer);
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const [name, path] of Object.entries({
      authorization_endpoint: "/auth",
      token_endpoint: "/token",
      userinfo_endpoint: "/me",
      jwks_uri: "/jwks",
      end_session_endpoint: "/session/end",
      device_authorization_endpoint: "/device/auth",
      revocation_endpoint: "/token/revocation",
    })) {
      assert.equal(doc[name], `${idp.issuer}${path}`, name);
    }
    assert.deepEqual(doc.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(doc.token_endpoint_auth_methods_supported, [
      "client_secret_basic",
      "client_secret_post",
      "none",
    ]);
    assert.deepEqual(doc.response_types_supported, ["code"]);
    for (const scope of FULL_SCOPE.split(" ")) {
      assert.ok((doc.scopes_supported as string[]).includes(scope), scope);
    }
    assert.deepEqual(
      idp.users.map((user) => user.username),
      ["alice", "bob"],
    );
  });

  it("runs the code flow with PKCE for the confidential client", async () => {
    const config = await rpConfig(idp, "confidential");
    const { tokens, nonce, callback } = await login(config, new IdpUserAgent(), "alice");
    assert.ok(callback.searchParams.get("code"));
    assert.equal(callback.searchParams.get("iss"), idp.issuer);

    const at = await verifyAccessToken(idp, tokens.access_token);
    const alice = idp.users[0];
    assert.ok(alice);
    assert.equal(at.sub, alice.sub);
    assert.equal(at.client_id, idp.confidentialClient.clientId);
    assert.equal(at.azp, idp.confidentialClient.clientId);
    for (const scope of FULL_SCOPE.split(" ")) {
      assert.ok(
        scopesOf(at).includes(scope),
        `access token scope lacks ${scope}: ${String(at.scope)}`,
      );
    }
    assert.equal(at.preferred_username, "alice");
    assert.equal(at.email, "alice@example.org");
    assert.equal(at.given_name, "Alice");
    assert.equal(at.family_name, "Liddell");
    assert.deepEqual(at.realm_access, { roles: ["admin", "user"] });
    assert.deepEqual(at.resource_access, { "demo-app": { roles: ["editor"] } });
    assert.deepEqual(at.groups, ["/staff"]);
    assert.equal((at.exp ?? 0) - (at.iat ?? 0), 300);
    assert.equal(decodeProtectedHeader(tokens.access_token).kid, idp.signingKey().kid);

    const idToken = tokens.claims();
    assert.ok(idToken);
    assert.equal(idToken.nonce, nonce);
    assert.equal(idToken.aud, idp.confidentialClient.clientId);
    assert.equal(idToken.preferred_username, "alice");
    assert.equal(idToken.email, "alice@example.org");
    assert.deepEqual(idToken.realm_access, { roles: ["admin", "user"] });
    assert.equal(typeof tokens.refresh_token, "string");
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
  });

  it("refreshes tokens", async () => {
    const config = await rpConfig(idp, "confidential");
    const { tokens } = await login(config, new IdpUserAgent(), "bob");
    const before = await verifyAccessToken(idp, tokens.access_token);
    assert.ok(tokens.refresh_token);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const after = await verifyAccessToken(idp, refreshed.access_token);
    assert.notEqual(after.jti, before.jti);
    assert.equal(after.sub, before.sub);
    assert.deepEqual(scopesOf(after).sort(), scopesOf(before).sort());
    assert.deepEqual(after.realm_access, { roles: ["user"] });
    assert.equal(refreshed.claims()?.sub, before.sub);
  });

  it("runs the code flow for the public client and rotates its refresh tokens", async () => {
    const config = await rpConfig(idp, "public");
    const { tokens } = await login(config, new IdpUserAgent(), "bob");
    const at = await verifyAccessToken(idp, tokens.access_token);
    assert.equal(at.client_id, idp.publicClient.clientId);
    assert.equal(at.preferred_username, "bob");
    assert.ok(tokens.refresh_token);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // Reusing a rotated refresh token is refused (and revokes the grant).
    await assert.rejects(
      client.refreshTokenGrant(config, tokens.refresh_token),
      isOAuthError("invalid_grant"),
    );
  });

  it("answers userinfo with the Keycloak-like claims for a JWT access token", async () => {
    const config = await rpConfig(idp, "confidential");
    const { tokens } = await login(config, new IdpUserAgent(), "alice");
    const alice = idp.users[0];
    assert.ok(alice);
    const info = await client.fetchUserInfo(config, tokens.access_token, alice.sub);
    assert.equal(info.preferred_username, "alice");
    assert.equal(info.email, "alice@example.org");
    assert.equal(info.given_name, "Alice");
    assert.equal(info.family_name, "Liddell");
    assert.deepEqual(info.realm_access, { roles: ["admin", "user"] });
    assert.deepEqual(info.groups, ["/staff"]);

    const rejected = await fetch(`${idp.issuer}/me`, {
      headers: { authorization: "Bearer not-a-token" },
    });
    assert.equal(rejected.status, 401);
    assert.match(rejected.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/);
  });

  it("runs the device flow: pending, approved, tokens", async () => {
    const config = await rpConfig(idp, "public");
    const device = await client.initiateDeviceAuthorization(config, {
      scope: "openid profile email",
    });
    assert.ok(device.verification_uri_complete);
    assert.equal(device.verification_uri, `${idp.issuer}/device`);
    assert.equal(device.interval, 5);
    const poll = () =>
      client.genericGrantRequest(config, DEVICE_GRANT, { device_code: device.device_code });

    await assert.rejects(poll(), isOAuthError("authorization_pending"));
    await new IdpUserAgent().approveDevice(
      device.verification_uri_complete,
      "alice",
      "alice-password",
    );
    const tokens = await poll();
    const at = await verifyAccessToken(idp, tokens.access_token);
    assert.equal(at.preferred_username, "alice");
    assert.equal(at.client_id, idp.publicClient.clientId);
    assert.ok(scopesOf(at).includes("profile"));
    assert.equal(tokens.claims()?.preferred_username, "alice");
    assert.equal(typeof tokens.refresh_token, "string");
  });

  it("reports a denied device authorization as access_denied", async () => {
    const config = await rpConfig(idp, "public");
    const device = await client.initiateDeviceAuthorization(config, { scope: "openid" });
    assert.ok(device.verification_uri_complete);
    await new IdpUserAgent().denyDevice(device.verification_uri_complete, "bob", "bob-password");
    await assert.rejects(
      client.genericGrantRequest(config, DEVICE_GRANT, { device_code: device.device_code }),
      isOAuthError("access_denied"),
    );
  });

  it("accepts any loopback redirect URI and rejects others", async () => {
    const config = await rpConfig(idp, "confidential");
    for (const host of ["127.0.0.1", "localhost", "[::1]"]) {
      const redirectUri = loopbackRedirect(host, "/any/path");
      const { tokens } = await login(config, new IdpUserAgent(), "alice", { redirectUri });
      assert.ok(tokens.access_token, host);
    }
    for (const redirectUri of ["https://evil.example/cb", "http://127.0.0.1.evil.example/cb"]) {
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: "openid",
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: "S256",
      });
      const response = await fetch(url, { redirect: "manual" });
      assert.equal(response.status, 400, redirectUri);
      assert.equal(response.headers.get("location"), null);
      assert.match(await response.text(), /redirect_uri/);
    }
  });

  it("rejects a wrong password without breaking, and lets the user cancel", async () => {
    const config = await rpConfig(idp, "confidential");
    const agent = new IdpUserAgent();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: loopbackRedirect(),
      scope: "openid",
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: "S256",
      state: "s1",
    });
    await assert.rejects(agent.authorize(url, "alice", "wrong"), (error: unknown) => {
      assert.ok(error instanceof IdpUserAgentError);
      assert.match(error.message, /Invalid username or password/);
      return true;
    });
    await assert.rejects(agent.authorize(url, "mallory", "alice-password"), IdpUserAgentError);

    const cancelled = await new IdpUserAgent().cancelLogin(url);
    assert.equal(cancelled.searchParams.get("error"), "access_denied");
    assert.equal(cancelled.searchParams.get("state"), "s1");
    // The IdP still serves logins afterwards.
    const { tokens } = await login(config, new IdpUserAgent(), "alice");
    assert.ok(tokens.access_token);
  });

  it("ends the session; offline refresh tokens survive it, online ones do not", async () => {
    const config = await rpConfig(idp, "confidential");
    const agent = new IdpUserAgent();
    const online = await login(config, agent, "alice", { scope: "openid profile email" });
    // Second login in the same browser: single sign-on, the password is not asked again.
    const offline = await login(config, agent, "alice-has-sso", { scope: FULL_SCOPE });
    assert.ok(online.tokens.refresh_token && offline.tokens.refresh_token);
    const idToken = offline.tokens.id_token;
    assert.ok(idToken);

    const postLogout = loopbackRedirect("127.0.0.1", "/logged-out");
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: idToken,
      post_logout_redirect_uri: postLogout,
      state: "bye",
    });
    const landed = await agent.endSession(url);
    assert.equal(`${landed.origin}${landed.pathname}`, postLogout);
    assert.equal(landed.searchParams.get("state"), "bye");

    // As in Keycloak: the online refresh token ended with the session, the offline one did not.
    await assert.rejects(
      client.refreshTokenGrant(config, online.tokens.refresh_token),
      isOAuthError("invalid_grant"),
    );
    const refreshed = await client.refreshTokenGrant(config, offline.tokens.refresh_token);
    assert.ok(
      scopesOf(await verifyAccessToken(idp, refreshed.access_token)).includes("offline_access"),
    );
    // The session is gone: the next authorization shows the login form again (and a wrong
    // password fails), where a live session would have redirected straight back.
    await assert.rejects(login(config, agent, "alice-without-session"), IdpUserAgentError);
  });

  it("ends the session on the IdP's own page without a post_logout_redirect_uri", async () => {
    const config = await rpConfig(idp, "public");
    const agent = new IdpUserAgent();
    await login(config, agent, "bob");
    const landed = await agent.endSession(client.buildEndSessionUrl(config));
    assert.equal(landed.href, `${idp.issuer}/session/end/success`);
    await assert.rejects(login(config, agent, "bob-without-session"), IdpUserAgentError);
  });

  it("mints test tokens with the genuine signing key", async () => {
    const { kid, privateKey, publicJwk } = idp.signingKey();
    assert.equal(publicJwk.kid, kid);
    assert.equal(publicJwk.d, undefined);
    const token = await new SignJWT({ scope: "openid" })
      .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
      .setIssuer(idp.issuer)
      .setAudience("someone-else")
      .setIssuedAt()
      .setExpirationTime("1m")
      .sign(privateKey);
    await assert.rejects(verifyAccessToken(idp, token), {
      code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
      claim: "aud",
    });
  });
});

describe("dev IdP key rotation", () => {
  let idp: DevIdp;
  before(async () => {
    idp = await startDevIdp();
  });
  after(async () => {
    await idp.stop();
  });

  it("signs with the new key, publishes both, keeps sessions and grants, then drops the old key", async () => {
    const config = await rpConfig(idp, "confidential");
    const agent = new IdpUserAgent();
    const { tokens: old } = await login(config, agent, "alice");
    const oldKid = idp.signingKey().kid;
    assert.equal(decodeProtectedHeader(old.access_token).kid, oldKid);

    const newKid = await idp.rotateSigningKey();
    assert.notEqual(newKid, oldKid);
    assert.equal(idp.signingKey().kid, newKid);
    assert.deepEqual((await jwksKids(idp)).sort(), [oldKid, newKid].sort());

    // Same browser: the IdP session survived, so no login form (the credentials would be wrong).
    const { tokens: fresh } = await login(config, agent, "alice-has-sso");
    assert.equal(decodeProtectedHeader(fresh.access_token).kid, newKid);
    assert.equal(decodeProtectedHeader(fresh.id_token ?? "").kid, newKid);
    // A refresh token issued before the rotation still works and yields new-key tokens.
    assert.ok(old.refresh_token);
    const refreshed = await client.refreshTokenGrant(config, old.refresh_token);
    assert.equal(decodeProtectedHeader(refreshed.access_token).kid, newKid);
    // Old tokens verify until the old key is dropped.
    await verifyAccessToken(idp, old.access_token);
    await verifyAccessToken(idp, fresh.access_token);

    await idp.dropOldSigningKeys();
    assert.deepEqual(await jwksKids(idp), [newKid]);
    await assert.rejects(verifyAccessToken(idp, old.access_token), {
      code: "ERR_JWKS_NO_MATCHING_KEY",
    });
    await verifyAccessToken(idp, fresh.access_token);
  });
});

describe("dev IdP options", () => {
  it("accepts listed non-loopback redirect URIs with extraRedirectUris", async () => {
    const redirectUri = "https://app.example.org/auth/v2/callback";
    const idp = await startDevIdp({ extraRedirectUris: [redirectUri] });
    try {
      const config = await rpConfig(idp, "confidential");
      const { tokens } = await login(config, new IdpUserAgent(), "alice", { redirectUri });
      assert.ok(tokens.access_token);
      const other = client.buildAuthorizationUrl(config, {
        redirect_uri: "https://app.example.org/elsewhere",
        scope: "openid",
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: "S256",
      });
      assert.equal((await fetch(other, { redirect: "manual" })).status, 400);
    } finally {
      await idp.stop();
    }
  });

  it("has no end_session_endpoint with endSession: false", async () => {
    const idp = await startDevIdp({ endSession: false });
    try {
      const doc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>;
      assert.equal(doc.end_session_endpoint, undefined);
      assert.equal(doc.token_endpoint, `${idp.issuer}/token`);
      assert.equal((await fetch(`${idp.issuer}/session/end`)).status, 404);
    } finally {
      await idp.stop();
    }
  });

  it("announces the configured device poll interval", async () => {
    const idp = await startDevIdp({ devicePollIntervalSeconds: 1 });
    try {
      const response = await fetch(`${idp.issuer}/device/auth`, {
        method: "POST",
        body: new URLSearchParams({ client_id: idp.publicClient.clientId, scope: "openid" }),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body.interval, 1);
      assert.equal(typeof body.device_code, "string");
    } finally {
      await idp.stop();
    }
  });

  it("offers only client_secret_post when told to, and refuses Basic", async () => {
    const idp = await startDevIdp({
      tokenEndpointAuthMethods: ["client_secret_post"],
      accessTokenTtlSeconds: 60,
    });
    try {
      const doc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>;
      assert.deepEqual(doc.token_endpoint_auth_methods_supported, ["client_secret_post"]);
      assert.equal(doc.end_session_endpoint, `${idp.issuer}/session/end`);

      const post = await rpConfig(idp, "confidential", client.ClientSecretPost);
      const { tokens } = await login(post, new IdpUserAgent(), "alice");
      const at = await verifyAccessToken(idp, tokens.access_token);
      assert.equal((at.exp ?? 0) - (at.iat ?? 0), 60);

      const basic = await rpConfig(idp, "confidential", client.ClientSecretBasic);
      await assert.rejects(
        login(basic, new IdpUserAgent(), "alice"),
        isOAuthError("invalid_client"),
      );
    } finally {
      await idp.stop();
    }
  });
});
