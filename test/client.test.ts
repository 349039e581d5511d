/**
 * The command-line client (`ts-oidc-auth/client` and the `ts-oidc-auth`
 * command) against the demo app in broker mode and the real dev IdP: the
 * device flow approved at the IdP, the browser login through the IdP's
 * forms, refresh, a refused refresh, the token store file, and the CLI in a
 * shell without a terminal. Nothing is mocked.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Demo, startDemo } from "../demo/app.ts";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import { nextInterval } from "../src/client/device.ts";
import {
  AuthClientError,
  type AuthenticateOptions,
  authenticate,
  hostKey,
  LoginRequiredError,
  logout,
  type Token,
  TokenStore,
  TokenStoreError,
} from "../src/client/index.ts";
import {
  approvingReporter,
  noLoginReporter,
  programmaticBrowser,
  runCli,
} from "./helpers/client-flows.ts";
import { BOB } from "./helpers/flows.ts";
import { capturingLogger } from "./helpers/http.ts";

const tmp = mkdtempSync(join(tmpdir(), "ts-oidc-auth-client-"));
const logLines: string[] = [];
let demo: Demo;
let storeCount = 0;

/** A fresh, empty token store file in the temporary folder. */
function newStore(): TokenStore {
  return new TokenStore(join(tmp, `store-${++storeCount}`, "tokens.json"));
}

function options(store: TokenStore, extra: Partial<AuthenticateOptions> = {}): AuthenticateOptions {
  return { host: demo.apiBase, store, tokenEnvVar: null, interactive: false, ...extra };
}

async function deviceLogin(store: TokenStore, who = BOB) {
  const device = approvingReporter(who);
  const token = await authenticate(
    options(store, { interactive: true, flow: "device", reporter: device.reporter }),
  );
  await device.approved();
  return { token, device };
}

async function callApi(path: string, token: Token) {
  const response = await fetch(new URL(path, demo.url), { headers: token.headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

before(async () => {
  // The demo keeps its secret in the user's data directory: a temporary one here.
  process.env.XDG_DATA_HOME = join(tmp, "data");
  demo = await startDemo({
    port: 0,
    idpPort: 0,
    storeUrl: `sqlite:///${join(tmp, "broker.sqlite")}`,
    deviceIntervalSeconds: 1,
    logger: capturingLogger(logLines),
  });
});

after(async () => {
  await demo?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("authenticate()", () => {
  it("logs in with the device flow approved at the IdP, polling at the server's interval", async () => {
    const store = newStore();
    const { token, device } = await deviceLogin(store);
    assert.equal(token.headers.Authorization, `Bearer ${token.access_token}`);
    assert.equal(device.prompts.length, 1);
    assert.match(device.prompts[0]?.user_code ?? "", /^[A-Z]{4}-[A-Z]{4}$/);
    assert.ok(device.intervals.length >= 1 && device.intervals.every((s) => s === 1));
    assert.deepEqual(device.events.slice(-1), ["stopped"]);
    assert.ok(token.refresh_token && token.refresh_expires, "a refresh token with its expiry");
    const hello = await callApi("/api/hello", token);
    assert.deepEqual([hello.status, hello.body.message], [200, "Hello, Bob!"]);
    assert.equal((await callApi("/api/admin", token)).status, 403, "bob is no admin");
    // Stored: the next call is answered from the store, without any login.
    const again = await authenticate(options(store, { reporter: noLoginReporter }));
    assert.equal(again.access_token, token.access_token);
  });

  it("logs in through the browser: the app's /login, the IdP's form, the loopback callback", async () => {
    const store = newStore();
    const seen: URL[] = [];
    const token = await authenticate(
      options(store, {
        interactive: true,
        flow: "browser",
        openBrowser: programmaticBrowser(undefined, seen),
        redirectPorts: [0],
        reporter: noLoginReporterExcept("browserLogin"),
      }),
    );
    assert.equal(seen[0]?.hostname, "localhost");
    assert.equal(seen[0]?.pathname, "/callback");
    const admin = await callApi("/api/admin", token);
    assert.deepEqual([admin.status, admin.body.message], [200, "Welcome to the admin API, alice."]);
    assert.equal((await store.get(demo.apiBase))?.access_token, token.access_token);
  });

  it("refuses a callback from a login it did not start (state mismatch)", async () => {
    // The "browser" completes another login (an attacker's) and delivers its
    // code and state to this client's loopback callback.
    const injectOtherLogin = async (authorizationUrl: string): Promise<void> => {
      const redirectUri = new URL(authorizationUrl).searchParams.get("redirect_uri") ?? "";
      const login = await fetch(
        `${demo.apiBase}/auth/v2/login?redirect_uri=${encodeURIComponent(redirectUri)}`,
        {
          redirect: "manual",
        },
      );
      const back = await new IdpUserAgent().authorize(
        login.headers.get("location") ?? "",
        BOB.username,
        BOB.password,
      );
      await fetch(back);
    };
    const error = await authenticate(
      options(newStore(), {
        interactive: true,
        flow: "browser",
        openBrowser: injectOtherLogin,
        redirectPorts: [0],
        reporter: noLoginReporterExcept("browserLogin"),
      }),
    ).catch((e: unknown) => e);
    assert.ok(error instanceof AuthClientError, String(error));
    assert.match(error.message, /state mismatch/);
  });

  it("reports a login the app refuses at once, without opening a browser", async () => {
    const started = Date.now();
    const error = await authenticate(
      options(newStore(), {
        interactive: true,
        flow: "browser",
        openBrowser: () => assert.fail("no browser for a refused login"),
        redirectPorts: [0],
        redirectHost: "app.example.org",
        reporter: noLoginReporter,
      }),
    ).catch((e: unknown) => e);
    assert.ok(error instanceof AuthClientError, String(error));
    assert.equal(error.status, 400);
    assert.match(error.message, /redirect_uri is not allowed/);
    assert.ok(Date.now() - started < 5000, "no wait for a login that cannot come");
  });

  it("refreshes an expired access token without a login, and stores the rotated pair", async () => {
    const store = newStore();
    const { token } = await deviceLogin(store);
    await store.put(demo.apiBase, { ...stripHeaders(token), expires: nowSeconds() - 1 });
    const refreshed = await authenticate(options(store, { reporter: noLoginReporter }));
    assert.notEqual(refreshed.access_token, token.access_token);
    assert.notEqual(refreshed.refresh_token, token.refresh_token, "rotated");
    assert.ok(refreshed.expires > nowSeconds());
    assert.equal((await store.get(demo.apiBase))?.refresh_token, refreshed.refresh_token);
    assert.equal((await callApi("/api/hello", refreshed)).status, 200);
  });

  it("logs in again when the refresh token has expired", async () => {
    const store = newStore();
    const { token } = await deviceLogin(store);
    const past = nowSeconds() - 1;
    await store.put(demo.apiBase, { ...stripHeaders(token), expires: past, refresh_expires: past });
    await assert.rejects(
      authenticate(options(store, { reporter: noLoginReporter })),
      LoginRequiredError,
    );
    const { token: fresh, device } = await deviceLogin(store);
    assert.equal(device.prompts.length, 1, "a new device login");
    assert.notEqual(fresh.access_token, token.access_token);
  });

  it("logs in again when the server refuses the refresh token (session ended)", async () => {
    const store = newStore();
    const { token } = await deviceLogin(store);
    // The session ends at the app (as a logout elsewhere would): its refresh token is dead.
    const ended = await fetch(`${demo.apiBase}/auth/v2/logout`, {
      headers: token.headers,
      redirect: "manual",
    });
    assert.equal(ended.status, 302);
    await store.put(demo.apiBase, { ...stripHeaders(token), expires: nowSeconds() - 1 });
    const { token: fresh, device } = await deviceLogin(store);
    assert.equal(device.prompts.length, 1, "the refused refresh led to a new login");
    assert.equal((await callApi("/api/hello", fresh)).status, 200);
  });

  it("refuses to log in without a terminal, and says how to supply a token", async () => {
    const error = await authenticate(options(newStore())).catch((e: unknown) => e);
    assert.ok(error instanceof LoginRequiredError);
    assert.match(error.message, /ts-oidc-auth login/);
  });

  it("uses the access token of TS_OIDC_AUTH_TOKEN as it is", async () => {
    const { token } = await deviceLogin(newStore());
    process.env.TS_OIDC_AUTH_TOKEN = token.access_token;
    try {
      const store = newStore();
      const fromEnv = await authenticate({ host: demo.apiBase, store, interactive: false });
      assert.equal(fromEnv.headers.Authorization, `Bearer ${token.access_token}`);
      assert.equal(fromEnv.expires, token.expires, "the expiry read from the JWT");
      assert.deepEqual(await store.hosts(), [], "nothing stored");
    } finally {
      delete process.env.TS_OIDC_AUTH_TOKEN;
    }
  });

  it("logout ends the session at the app and forgets the token", async () => {
    const store = newStore();
    const { token } = await deviceLogin(store);
    assert.equal(await logout({ host: demo.apiBase, store }), true);
    assert.equal(await store.get(demo.apiBase), undefined);
    const refresh = await fetch(`${demo.apiBase}/auth/v2/token`, {
      method: "POST",
      body: new URLSearchParams({ "refresh-token": token.refresh_token ?? "" }),
    });
    assert.equal(refresh.status, 401, "the session is revoked");
    assert.equal(await logout({ host: demo.apiBase, store }), false);
  });
});

describe("device flow polling", () => {
  it("waits until the deadline, not one interval less, and polls once at it", async () => {
    const device = approvingReporter(BOB, /* approve: */ false);
    const started = Date.now();
    const error = await authenticate(
      options(newStore(), {
        interactive: true,
        flow: "device",
        loginTimeoutMs: 1500,
        reporter: device.reporter,
      }),
    ).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    assert.ok(error instanceof AuthClientError, String(error));
    assert.equal(error.message, "The login was not confirmed in time.");
    // Interval 1 s: a wait of 1 s, a poll, a wait cut to 0.5 s, the last poll at 1.5 s.
    assert.deepEqual(device.events, ["deviceCode", "waiting", "waiting", "stopped"]);
    assert.ok(elapsed >= 1500 && elapsed < 2400, `gave up after ${elapsed} ms`);
  });

  // The dev IdP (oidc-provider 8) never answers slow_down, so its rule is checked here directly.
  it("keeps the interval while pending, adds 5 s on slow_down, stops on denial and expiry", () => {
    const failure = (error: string | undefined, status: number | undefined = 400) =>
      new AuthClientError("poll", { ...(status ? { status } : {}), ...(error ? { error } : {}) });
    assert.equal(nextInterval(2, failure("authorization_pending"), 0), 2);
    assert.equal(nextInterval(2, failure("slow_down"), 0), 7);
    assert.equal(nextInterval(7, failure("slow_down"), 0), 12);
    assert.equal(nextInterval(2, failure(undefined, 503), 1), 2, "a transient failure is retried");
    assert.equal(nextInterval(2, new AuthClientError("unreachable"), 4), 2, "unreachable: retried");
    assert.throws(() => nextInterval(2, failure(undefined, 503), 5), /poll/, "until 5 in a row");
    assert.throws(() => nextInterval(2, failure("access_denied"), 0), /denied/);
    assert.throws(() => nextInterval(2, failure("expired_token"), 0), /expired/);
    assert.throws(() => nextInterval(2, failure("invalid_grant"), 0), /poll/);
  });
});

describe("token store", () => {
  it("writes the file with mode 0600 (whatever the umask and the old file's mode)", async () => {
    const store = newStore();
    const previous = process.umask(0o000);
    try {
      await store.put("https://a.example.org", validToken());
      assert.equal(statSync(store.path).mode & 0o777, 0o600);
      chmodSync(store.path, 0o644);
      await store.put("https://b.example.org", validToken());
      assert.equal(statSync(store.path).mode & 0o777, 0o600);
    } finally {
      process.umask(previous);
    }
  });

  it("keys tokens by host and drops entries whose tokens have all expired", async () => {
    const store = newStore();
    const past = nowSeconds() - 10;
    await store.put("HTTPS://App.Example.org:443/api/", validToken());
    await store.put("https://old.example.org", {
      ...validToken(),
      expires: past,
      refresh_expires: past,
    });
    assert.equal(hostKey("HTTPS://App.Example.org:443/api/"), "https://app.example.org/api");
    assert.ok(await store.get("https://app.example.org/api"));
    assert.deepEqual(await store.hosts(), ["https://app.example.org/api"]);
    assert.doesNotMatch(
      readFileSync(store.path, "utf8"),
      /old\.example\.org/,
      "dropped from the file",
    );
  });

  it("reports a corrupt file clearly and leaves it untouched", async () => {
    for (const content of [
      "{ this is not json",
      '{"version": 1, "tokens": {"h": {"expires": "x"}}}',
    ]) {
      const store = newStore();
      await store.put("https://a.example.org", validToken());
      writeFileSync(store.path, content);
      const before = statSync(store.path).mtimeMs;
      const error = await authenticate(options(store, { interactive: true })).catch(
        (e: unknown) => e,
      );
      assert.ok(error instanceof TokenStoreError, String(error));
      assert.match(error.message, new RegExp(`${escapeRegExp(store.path)}.*left untouched`));
      await assert.rejects(store.put("https://b.example.org", validToken()), TokenStoreError);
      assert.equal(readFileSync(store.path, "utf8"), content, "not overwritten");
      assert.equal(statSync(store.path).mtimeMs, before);
    }
  });
});

describe("the ts-oidc-auth command", () => {
  it("token, without a terminal and without a token: a helpful error and exit code 1", async () => {
    const store = join(tmp, "cli-empty", "tokens.json");
    const result = await runCli(["token", demo.apiBase, "--store", store]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /not an interactive terminal/);
    assert.match(result.stderr, /ts-oidc-auth login/);
    assert.match(result.stderr, /TS_OIDC_AUTH_TOKEN/);
  });

  it("login (device flow with a wait indicator), token, token --header, logout", async () => {
    const store = join(tmp, "cli", "tokens.json");
    let approval: Promise<void> | undefined;
    const login = await runCli(
      ["login", demo.apiBase, "--device", "--store", store],
      {},
      (text) => {
        const uri = /https?:\/\/\S+user_code=\S+/.exec(text)?.[0];
        approval ??= uri
          ? new IdpUserAgent().approveDevice(uri, BOB.username, BOB.password)
          : undefined;
      },
    );
    await approval;
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /Waiting for the login to be confirmed \(checking every 1 s\)/);
    assert.equal(statSync(store).mode & 0o777, 0o600);

    const token = await runCli(["token", demo.apiBase, "--store", store]);
    assert.equal(token.code, 0, token.stderr);
    const accessToken = token.stdout.trim();
    assert.equal((await callApi("/api/hello", headersOf(accessToken))).body.message, "Hello, Bob!");
    const header = await runCli(["token", "--header", "--store", store], {
      TS_OIDC_AUTH_HOST: demo.apiBase,
    });
    assert.equal(header.stdout, `Authorization: Bearer ${accessToken}\n`);

    const out = await runCli(["logout", demo.apiBase, "--store", store]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((await runCli(["token", demo.apiBase, "--store", store])).code, 1);
  });

  it("usage errors: exit 2, one line naming the mistake (with the nearest name) and a hint", async () => {
    for (const [args, error] of [
      [["frobnicate"], 'Unknown command "frobnicate".'],
      [["logn", demo.apiBase], 'Unknown command "logn" (did you mean login?).'],
      [[], "A command is required: login, token or logout."],
      [["login", "--tiemout", "3"], "Unknown option --tiemout (did you mean --timeout?)."],
      [["login", demo.apiBase, "--timeout"], "--timeout needs a value."],
      [["login", demo.apiBase, "--device=yes"], "--device takes no value."],
      [
        ["login", demo.apiBase, "--timeout", "soon"],
        "--timeout must be a positive number of seconds.",
      ],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 2, args.join(" "));
      assert.equal(
        result.stderr,
        `ts-oidc-auth: ${error}\nRun "ts-oidc-auth --help" for the usage.\n`,
        "no help text, no parseArgs wording",
      );
      assert.equal(result.stdout, "");
    }
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: ts-oidc-auth[\s\S]*--version/);
  });

  it("--version and -V print the version of package.json", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL("../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const result = await runCli([flag]);
      assert.deepEqual(
        [result.code, result.stdout, result.stderr],
        [0, `ts-oidc-auth ${version}\n`, ""],
      );
    }
  });

  it("a 404 at the auth routes says the host probably lacks the /api prefix", async () => {
    const store = join(tmp, "cli-404", "tokens.json");
    const origin = new URL(demo.url).origin;
    const bare = await runCli(["login", origin, "--device", "--store", store]);
    assert.equal(bare.code, 1, bare.stderr);
    assert.equal(
      bare.stderr,
      `ts-oidc-auth: ${origin} has no /auth/v2/device (HTTP 404). The host must include the ` +
        `auth router's prefix: probably ${origin}/api (or the app's own prefix), not just the origin.\n`,
    );
    const wrong = await runCli(["login", `${origin}/v1`, "--device", "--store", store]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(
      wrong.stderr,
      /has no \/v1\/auth\/v2\/device \(HTTP 404\)\. Check that the host is/,
    );
  });

  it("--timeout is honoured exactly: the last wait is cut short and one last poll comes at the deadline", async () => {
    let prompted = 0;
    const result = await runCli(
      ["login", demo.apiBase, "--device", "--timeout", "1.5", "--store", join(tmp, "t", "t.json")],
      {},
      (text) => {
        if (prompted === 0 && text.includes("To log in, open")) prompted = Date.now();
      },
    );
    // From the device code on, not from the process start (whose start-up takes a while).
    const elapsed = Date.now() - prompted;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /The login was not confirmed in time\./);
    // The demo polls every second: giving up one interval early would end after about 1 s.
    assert.ok(elapsed >= 1500, `gave up after ${elapsed} ms`);
  });
});

function noLoginReporterExcept(allowed: "browserLogin") {
  return { ...noLoginReporter, [allowed]: () => {} };
}

function stripHeaders(token: Token) {
  const { headers: _headers, ...stored } = token;
  return stored;
}

function headersOf(accessToken: string): Token {
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires: 0,
    headers: { Authorization: `Bearer ${accessToken}` },
  };
}

function validToken() {
  return { access_token: "a.b.c", token_type: "Bearer", expires: nowSeconds() + 600 };
}

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

function escapeRegExp(text: string) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
