/**
 * The Next.js session helpers (docs/browser-sessions.md "Next.js sessions"): `currentUser`
 * reads the session of a Server Component from `cookies()`/`headers()` and
 * of middleware from the request, without renewing it; `loginUrl` is the
 * login that comes back to the page. Against the dev IdP, logged in through
 * the route handlers with a cookie jar.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { NextOIDCAuth } from "../src/adapters/next.ts";
import { BrowserClient } from "./helpers/browser-client.ts";
import { TestClient } from "./helpers/http.ts";
import { type RouteModule, type RunningApp, serveNextRoutes } from "./helpers/servers.ts";

const quiet = { warn() {}, error() {} };

describe("Next.js session helpers", () => {
  let idp: DevIdp;
  let app: RunningApp;
  let auth: NextOIDCAuth;

  before(async () => {
    idp = await startDevIdp();
    auth = new NextOIDCAuth({
      clientId: idp.confidentialClient.clientId,
      clientSecret: idp.confidentialClient.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      audience: idp.audience,
      secret: "next-session-secret-0123456789abcdef-01234",
      allowedRedirectUris: ["http://127.0.0.1/auth/v2/callback"],
      browserSessions: true,
      logger: quiet,
    });
    const files = new Map<string, RouteModule>([["/[...auth]", auth.routeHandlers()]]);
    app = await serveNextRoutes(files);
  });

  after(async () => {
    await app.close();
    await idp.stop();
  });

  it("loginUrl comes back to the page, and currentUser reads the session it set", async () => {
    const page = `${app.url}/dashboard?tab=2`;
    const login = new URL(auth.loginUrl(page));
    assert.equal(login.pathname, "/auth/v2/login");
    assert.equal(login.searchParams.get("redirect_uri"), `${app.url}/auth/v2/callback`);
    assert.equal(login.searchParams.get("return_to"), "/dashboard?tab=2");
    const browser = new BrowserClient(new TestClient(app.url));
    const done = await browser.logIn(login);
    assert.equal(done.status, 303, done.text);
    assert.equal(done.headers.get("location"), page);

    const host = new URL(app.url).host;
    const serverComponent = {
      cookies: { getAll: () => [...browser.jar.cookies].map(([name, value]) => ({ name, value })) },
      headers: { get: (name: string) => (name === "host" ? host : null) },
    };
    const user = await auth.currentUser(serverComponent);
    assert.equal(user?.token.preferred_username, "alice");
    assert.ok(((await user?.session?.accessToken()) ?? "").length > 0);

    const request = new Request(`${app.url}/dashboard`, {
      headers: { cookie: browser.jar.header() ?? "" },
    });
    assert.equal((await auth.currentUser(request))?.token.sub, user?.token.sub);

    const anonymous = { ...serverComponent, cookies: { getAll: () => [] } };
    assert.equal(await auth.currentUser(anonymous), undefined);
    const tampered = {
      ...serverComponent,
      cookies: { getAll: () => [{ name: "oidc-session", value: "x.y.z.w.v" }] },
    };
    assert.equal(await auth.currentUser(tampered), undefined);
  });
});
