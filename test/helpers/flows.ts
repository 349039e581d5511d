/** Steps of the login flows that several test files walk through. */
import assert from "node:assert/strict";
import { IdpUserAgent } from "../../dev-idp/user-agent.ts";
import type { TestClient } from "./http.ts";

export const ALICE = { username: "alice", password: "alice-password" };
export const BOB = { username: "bob", password: "bob-password" };

export function authPaths(prefix: string) {
  return {
    login: `${prefix}/auth/v2/login`,
    callback: `${prefix}/auth/v2/callback`,
    token: `${prefix}/auth/v2/token`,
    device: `${prefix}/auth/v2/device`,
    logout: `${prefix}/auth/v2/logout`,
    userinfo: `${prefix}/auth/v2/userinfo`,
    jwks: `${prefix}/auth/v2/.well-known/jwks.json`,
  };
}

/** GET /login, then log in at the IdP as a person would; returns the IdP's answer. */
export async function loginAtIdp(
  http: TestClient,
  loginPath: string,
  redirectUri: string,
  query = "",
  who = ALICE,
) {
  const started = await http.get(
    `${loginPath}?redirect_uri=${encodeURIComponent(redirectUri)}${query}`,
  );
  assert.equal(started.status, 302, started.text);
  const authorizationUrl = new URL(started.headers.get("location") ?? "");
  const back = await new IdpUserAgent().authorize(authorizationUrl, who.username, who.password);
  const code = back.searchParams.get("code");
  const state = back.searchParams.get("state");
  assert.ok(code && state, `the IdP redirected to ${back.origin}${back.pathname} without a code`);
  return { authorizationUrl, back, code, state };
}

/** The whole code flow through /login and /callback: the token JSON reply. */
export async function codeFlow(http: TestClient, prefix: string, redirectUri: string, who = ALICE) {
  const paths = authPaths(prefix);
  const { code, state } = await loginAtIdp(http, paths.login, redirectUri, "", who);
  return http.get(`${paths.callback}?code=${code}&state=${encodeURIComponent(state)}`);
}
