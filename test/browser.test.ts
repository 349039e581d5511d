/**
 * The demo in a real browser (Debian's Chromium through playwright-core):
 * `npm start`, log in through the IdP's real login form, see the claims,
 * call the APIs, refresh, log out (at the IdP too), then the device flow;
 * then the server-rendered page on browser sessions (log in, reload, a
 * protected page, a refresh past the IdP's 5 s access-token lifetime, log
 * out); finally Ctrl-C stops the demo. Screenshots of each step go to
 * test-output/screenshots/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import { type DemoProcess, startDemoProcess } from "./helpers/demo-process.ts";
import { requireServices } from "./helpers/services.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
/** The IdP's access-token lifetime, short so that the session test sees a refresh. */
const IDP_ACCESS_TOKEN_SECONDS = 5;
const SCREENSHOTS = new URL("../test-output/screenshots/", import.meta.url).pathname;

const missing = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium): browser test skipped`;
if (missing && requireServices) throw new Error(`${missing}, but TS_OIDC_AUTH_REQUIRE_SERVICES=1`);
if (missing) process.stderr.write(`# ${missing}\n`);

describe("the demo in Chromium", { skip: missing }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "ts-oidc-auth-browser-"));
  const problems: string[] = [];
  let demo: DemoProcess;
  let browser: Browser;
  let page: Page;
  let step = 0;

  const shot = async (name: string) => {
    step += 1;
    await page.screenshot({
      path: join(SCREENSHOTS, `${String(step).padStart(2, "0")}-${name}.png`),
      fullPage: true,
    });
  };
  const text = (selector: string) =>
    page
      .locator(selector)
      .textContent()
      .then((value) => value ?? "");
  const sessionCookie = async () =>
    (await page.context().cookies()).find((cookie) => cookie.name === "oidc-session")?.value;
  const tokens = async () =>
    page.evaluate(() => JSON.parse(sessionStorage.getItem("ts-oidc-auth-demo.tokens") ?? "null"));

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // No store URL: the default SQLite file in the user's data directory, here a temporary one.
    const ttl = String(IDP_ACCESS_TOKEN_SECONDS);
    const args = ["--port", "0", "--idp-port", "0", "--device-interval", "1"];
    demo = await startDemoProcess([...args, "--idp-access-token-ttl", ttl], {
      XDG_DATA_HOME: join(tmp, "data"),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      // Answers like the 403 of the admin API for bob are expected; script and CSP errors are not.
      const expected = message.text().startsWith("Failed to load resource: the server responded");
      if (message.type() === "error" && !expected) problems.push(`console: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await demo?.interrupt();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("prints the demo users and the store, and serves the page", async () => {
    assert.match(demo.output(), /alice\s+password alice-password/);
    assert.match(demo.output(), /bob\s+password bob-password/);
    assert.match(demo.output(), new RegExp(`${tmp}/data/ts-oidc-auth-demo/broker.sqlite`));
    await page.goto(demo.url);
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.locator("#signed-out").isVisible(), true);
    await shot("signed-out");
  });

  it("logs in through the IdP's login form and shows who is signed in and the claims", async () => {
    await page.click("#login");
    await page.waitForURL(`${demo.idpUrl}/interaction/**`);
    await page.fill("input[name=username]", "alice");
    await page.fill("input[name=password]", "alice-password");
    await shot("idp-login-form");
    await page.click("button:text('Sign in')");
    await page.waitForURL(demo.url);
    await page.waitForSelector("#signed-in:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#user-details")?.textContent !== "");
    assert.equal(await text("#user-name"), "alice");
    assert.equal(await text("#user-details"), "Alice Liddell · alice@example.org");
    const claims = JSON.parse(await text("#claims"));
    assert.equal(
      claims.iss,
      `${new URL(demo.url).origin}/api`,
      "the broker's issuer: proxy + prefix",
    );
    assert.equal(claims.aud, "ts-oidc-auth-demo-api");
    assert.ok(claims.roles.includes("admin") && claims.roles.includes("user"), "flattened roles");
    assert.equal(new URL(page.url()).search, "", "the code is gone from the address bar");
    await shot("signed-in");
  });

  it("calls the protected APIs with the token", async () => {
    await page.click("#call-api");
    await page.waitForFunction(() =>
      document.querySelector("#api-status")?.textContent?.includes("/api/hello"),
    );
    assert.equal(await text("#api-status"), "GET /api/hello → 200");
    assert.equal(JSON.parse(await text("#api-result")).message, "Hello, Alice!");
    await page.click("#call-admin");
    await page.waitForFunction(() =>
      document.querySelector("#api-status")?.textContent?.includes("/api/admin"),
    );
    assert.equal(await text("#api-status"), "GET /api/admin → 200");
    await shot("api-called");
  });

  it("refreshes: a new token pair, the old refresh token rotated", async () => {
    const before = await tokens();
    await page.click("#refresh");
    await page.waitForSelector("#refresh-result:not([hidden])");
    const after = await tokens();
    assert.notEqual(after.access_token, before.access_token);
    assert.notEqual(after.refresh_token, before.refresh_token);
    const { jti } = JSON.parse(await text("#claims"));
    assert.match(await text("#refresh-result"), new RegExp(`new token ${jti}`));
    await shot("refreshed");
  });

  it("logs out: the broker session is revoked and the IdP session ended", async () => {
    const last = await tokens();
    await page.click("#logout");
    await page.waitForURL(`${demo.idpUrl}/**`);
    await shot("idp-logout");
    await page.click("button:text('Sign out')");
    await page.waitForURL(demo.url);
    await page.waitForSelector("#signed-out:not([hidden])");
    assert.equal(await tokens(), null);
    const refresh = await fetch(`${new URL(demo.url).origin}/api/auth/v2/token`, {
      method: "POST",
      body: new URLSearchParams({ refresh_token: last.refresh_token }),
    });
    assert.equal(refresh.status, 401, "the session is gone");
    // The IdP session ended too: logging in again asks for the password.
    await page.click("#login");
    await page.waitForSelector("input[name=password]");
    await page.goto(demo.url);
    await shot("signed-out-again");
  });

  it("logs in with the device flow while the page polls", async () => {
    await page.waitForSelector("body[data-ready=true]");
    await page.click("#device-start");
    await page.waitForSelector("#device-panel:not([hidden])");
    const code = await text("#device-code");
    assert.match(code, /^[A-Z]{4}-[A-Z]{4}$/);
    const link = await page.locator("#device-link a").getAttribute("href");
    assert.equal(link, `${demo.idpUrl}/device?user_code=${code}`);
    await shot("device-code");
    await new IdpUserAgent().approveDevice(link ?? "", "bob", "bob-password");
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal(await text("#user-name"), "bob");
    await page.click("#call-admin");
    await page.waitForFunction(() =>
      document.querySelector("#api-status")?.textContent?.includes("403"),
    );
    await shot("device-signed-in");
    assert.deepEqual(problems, [], "no script errors or CSP violations");
  });

  it("server-rendered page: logs in through the IdP's form into a browser session", async () => {
    const ssr = `${demo.url}ssr/`;
    await page.goto(demo.url);
    await page.click("#ssr-link");
    await page.waitForURL(ssr);
    assert.equal(await text("#ssr-title"), "Not signed in");
    await shot("ssr-signed-out");
    await page.click("#ssr-login");
    await page.waitForURL(`${demo.idpUrl}/interaction/**`);
    await page.fill("input[name=username]", "alice");
    await page.fill("input[name=password]", "alice-password");
    await page.click("button:text('Sign in')");
    await page.waitForURL(ssr);
    assert.equal(await text("#ssr-user"), "alice");
    assert.ok(await sessionCookie(), "the session cookie is set");
    assert.equal(new URL(page.url()).search, "", "no code or state left in the address bar");
    await shot("ssr-signed-in");
  });

  it("server-rendered page: keeps the user across a reload and opens the protected page", async () => {
    await page.reload();
    assert.equal(await text("#ssr-user"), "alice");
    await shot("ssr-reloaded");
    await page.click("#ssr-protected");
    await page.waitForURL(`${demo.url}ssr/protected`);
    assert.equal(await text("#ssr-title"), "Protected page");
    assert.equal(await text("#ssr-user"), "alice");
    await shot("ssr-protected");
  });

  it("server-rendered page: refreshes the IdP's tokens behind the scenes past their lifetime", async () => {
    const expires = Date.parse(await text("#ssr-exp"));
    const cookie = await sessionCookie();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now()) + 500));
    await page.reload();
    assert.equal(await text("#ssr-title"), "Protected page", "still signed in");
    const renewed = Date.parse(await text("#ssr-exp"));
    assert.ok(renewed > expires, `a new access token: ${renewed} > ${expires}`);
    assert.ok(renewed - Date.now() > 0, "which has not expired");
    assert.notEqual(await sessionCookie(), cookie, "the renewed session cookie");
    await shot("ssr-refreshed");
  });

  it("server-rendered page: logs out, at the IdP too; the protected page asks for a login", async () => {
    await page.click("#ssr-logout");
    await page.waitForURL(`${demo.idpUrl}/**`);
    await shot("ssr-idp-logout");
    await page.click("button:text('Sign out')");
    await page.waitForURL(`${demo.url}ssr/`);
    assert.equal(await text("#ssr-title"), "Not signed in");
    assert.equal(await sessionCookie(), undefined, "the session cookie is gone");
    await shot("ssr-signed-out-again");
    await page.goto(`${demo.url}ssr/protected`);
    await page.waitForSelector("input[name=password]");
    await shot("ssr-protected-asks-for-login");
    assert.deepEqual(problems, [], "no script errors or CSP violations");
  });

  it("stops on Ctrl-C, closing the app and the IdP", async () => {
    await browser.close();
    await demo.interrupt();
    assert.match(demo.output(), /Stopping/);
    for (const url of [demo.url, demo.idpUrl]) {
      await assert.rejects(fetch(url), `${url} still answers`);
    }
  });
});
