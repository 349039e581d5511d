/**
 * The README's quick starts: each is a file under examples/ (the README
 * shows them verbatim, checked here), started against the dev IdP and asked
 * for an auth route and a protected one. The examples that listen run as
 * their own process; the Web-standard and Next.js ones export handlers,
 * which are served here as Bun / Next.js would call them.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { checkReadmeExamples } from "../scripts/check-readme-examples.ts";
import { BrowserClient } from "./helpers/browser-client.ts";
import { signWithIdpKey, validClaims } from "./helpers/forge.ts";
import { TestClient } from "./helpers/http.ts";
import {
  type RouteModule,
  type RunningApp,
  serveFetch,
  serveNextRoutes,
} from "./helpers/servers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LISTENING_EXAMPLES = ["express", "fastify", "hono", "koa", "nestjs"];

describe("README", () => {
  it("shows every example exactly as its file under examples/", () => {
    assert.deepEqual(checkReadmeExamples(), []);
  });
});

describe("examples", () => {
  let idp: DevIdp;

  before(async () => {
    idp = await startDevIdp();
    useIdp(idp);
  });

  after(() => idp.stop());

  for (const name of LISTENING_EXAMPLES) {
    it(`examples/${name}.ts serves the auth endpoints and its protected routes`, async () => {
      const app = await startExample(`examples/${name}.ts`);
      try {
        await exercise(idp, app.url, true);
      } finally {
        await app.close();
      }
    });
  }

  it("examples/express-ssr.ts logs in, keeps the user across page loads, protects a page, logs out", async () => {
    const app = await startExample("examples/express-ssr.ts");
    try {
      await sessionTour(idp, app.url, { home: "/", page: "/account", prefix: "" });
    } finally {
      await app.close();
    }
  });

  it("examples/web.ts serves the auth endpoints and its protected routes", async () => {
    const { default: example } = await import("../examples/web.ts");
    const app = await serveFetch(example.fetch);
    try {
      await exercise(idp, app.url, true);
    } finally {
      await app.close();
    }
  });

  it("examples/next serves the auth endpoints and its protected route", async () => {
    // Not literal imports: the repository's tsc would follow them into
    // examples/next, which is type-checked under Next's own tsconfig (below).
    const route = (folder: string): Promise<RouteModule> =>
      import(new URL(`../examples/next/app${folder}/route.ts`, import.meta.url).href);
    const files = new Map<string, RouteModule>([
      ["/api/[...auth]", await route("/api/[...auth]")],
      ["/api/auth/v2/auth-ports", await route("/api/auth/v2/auth-ports")],
      ["/me", await route("/me")],
    ]);
    const app = await serveNextRoutes(files);
    try {
      await exercise(idp, app.url, false);
    } finally {
      await app.close();
    }
  });
});

describe("examples/next as a create-next-app project", () => {
  let idp: DevIdp;
  let dir: string;

  before(async () => {
    idp = await startDevIdp();
    useIdp(idp);
    dir = nextProject();
  });

  after(async () => {
    await idp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("type-checks against the package's declarations, with the imports a user writes", () => {
    const checked = run(process.execPath, [
      TSC,
      "-p",
      join(dir, "tsconfig.json"),
      "--incremental",
      "false",
    ]);
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  });

  it("next build, next start: logs in, keeps the user across page loads, protects a page, logs out", async () => {
    const next = join(dir, "node_modules/next/dist/bin/next");
    const built = run(process.execPath, [next, "build", "--webpack"], dir);
    assert.equal(built.status, 0, built.stdout + built.stderr);
    const port = await freePort();
    const app = await startProcess(
      [next, "start", "--port", String(port), "--hostname", "127.0.0.1"],
      port,
      dir,
    );
    try {
      await sessionTour(idp, app.url, { home: "/", page: "/dashboard", prefix: "/api" });
    } finally {
      await app.close();
    }
  });
});

const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

/** The examples read the IdP from the environment, in this process (web, next) and in their own. */
function useIdp(idp: DevIdp): void {
  Object.assign(process.env, {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: idp.confidentialClient.clientId,
    OIDC_CLIENT_SECRET: idp.confidentialClient.clientSecret,
    OIDC_AUDIENCE: idp.audience,
  });
}

function run(command: string, args: string[], cwd = ROOT) {
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
  return spawnSync(command, args, { cwd, encoding: "utf8", env });
}

/**
 * A project as create-next-app makes it (examples/next/tsconfig.json is its
 * template's; it installs @types/node and @types/react too), with ts-oidc-auth
 * installed: package.json and what the build emits. @types/react comes from
 * npm's cache; the rest are links into this repository's node_modules.
 */
function nextProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "ts-oidc-auth-next-"));
  cpSync(join(ROOT, "examples/next"), dir, { recursive: true });
  // First, as npm install removes what it did not install itself.
  const npm = ["install", "--prefer-offline", "--no-save", "--no-audit", "--no-fund"];
  const types = run("npm", [...npm, "--loglevel=error", "@types/react@^19"], dir);
  assert.equal(types.status, 0, types.stdout + types.stderr);
  const linked = [
    "next",
    "react",
    "react-dom",
    "typescript",
    "jose",
    "openid-client",
    "@types/node",
  ];
  for (const name of linked) {
    symlinkSync(join(ROOT, "node_modules", name), join(dir, "node_modules", name));
  }
  const installed = join(dir, "node_modules/ts-oidc-auth");
  mkdirSync(installed, { recursive: true });
  copyFileSync(join(ROOT, "package.json"), join(installed, "package.json"));
  const emitted = run(process.execPath, [
    TSC,
    "-p",
    "tsconfig.build.json",
    "--declarationMap",
    "false",
    "--sourceMap",
    "false",
    "--outDir",
    join(installed, "dist"),
  ]);
  assert.equal(emitted.status, 0, emitted.stdout + emitted.stderr);
  return dir;
}

/**
 * A server-rendered app's session with a cookie jar (docs/browser-sessions.md):
 * the protected page sends a stranger to the login, which comes back to it;
 * the session holds across page loads; after logout the page refuses again.
 */
async function sessionTour(
  idp: DevIdp,
  url: string,
  app: { home: string; page: string; prefix: string },
): Promise<void> {
  const browser = new BrowserClient(new TestClient(url));
  const sentToLogin = async () => {
    const refused = await browser.get(app.page);
    assert.ok([303, 307].includes(refused.status), `${refused.status} ${refused.text}`);
    const login = new URL(refused.headers.get("location") ?? "", url);
    assert.equal(login.pathname, `${app.prefix}/auth/v2/login`);
    assert.equal(login.searchParams.get("return_to"), app.page);
    return login;
  };
  const login = await sentToLogin();
  const done = await browser.logIn(login);
  assert.equal(done.status, 303, done.text);
  assert.equal(done.headers.get("location"), `${url}${app.page}`);
  for (const path of [app.page, app.home, app.page]) {
    const loaded = await browser.get(path);
    assert.equal(loaded.status, 200, loaded.text);
    assert.match(loaded.text, path === app.home ? /Signed in as alice/ : /of alice/);
  }
  const out = await browser.get(`${app.prefix}/auth/v2/logout`);
  assert.equal(out.status, 302, out.text);
  const endSession = new URL(out.headers.get("location") ?? "");
  assert.equal(`${endSession.origin}${endSession.pathname}`, `${idp.issuer}/session/end`);
  assert.ok(!browser.jar.cookies.has("oidc-session"), "logout clears the session cookie");
  await sentToLogin();
  assert.match((await browser.get(app.home)).text, /Not signed in/);
}

/** The requests every quick start answers; `all` adds /maybe_me and /admin. */
async function exercise(idp: DevIdp, url: string, all: boolean): Promise<void> {
  const http = new TestClient(url);
  const ports = await http.get("/api/auth/v2/auth-ports");
  assert.deepEqual(ports.json, { valid_ports: [8080, 8443] });
  const login = await http.get(
    `/api/auth/v2/login?redirect_uri=${encodeURIComponent("http://127.0.0.1:8765/cb")}`,
  );
  assert.equal(login.status, 302, login.text);
  assert.ok(login.headers.get("location")?.startsWith(idp.issuer));
  assert.equal((await http.get("/me")).status, 401);
  const token = { authorization: `Bearer ${await signWithIdpKey(idp, validClaims(idp))}` };
  const me = await http.get("/me", token);
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(me.json, { sub: "forged-test-subject" });
  if (!all) return;
  assert.deepEqual((await http.get("/maybe_me")).json, { anonymous: true });
  assert.equal((await http.get("/admin", token)).status, 403);
}

/** Runs an example in its own process on a free port; resolves once it answers. */
async function startExample(file: string): Promise<RunningApp> {
  return startProcess(["--import", "tsx", file], await freePort(), ROOT);
}

/** Runs `node <args>` in `cwd`, listening on `port`; resolves once it answers. */
async function startProcess(args: string[], port: number, cwd: string): Promise<RunningApp> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, PORT: String(port), NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exited = once(child, "exit");
  const close = async () => {
    if (child.exitCode === null) child.kill();
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) break;
    if (await answers(url)) return { url, close };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await close();
  throw new Error(`${args.join(" ")} did not start:\n${output}`);
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
