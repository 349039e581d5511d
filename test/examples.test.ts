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
    // Read by the examples, in this process (web, next) and in their own.
    Object.assign(process.env, {
      OIDC_DISCOVERY_URL: idp.discoveryUrl,
      OIDC_CLIENT_ID: idp.confidentialClient.clientId,
      OIDC_CLIENT_SECRET: idp.confidentialClient.clientSecret,
      OIDC_AUDIENCE: idp.audience,
    });
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

describe("examples/next under create-next-app's tsconfig", () => {
  it("type-checks against the package's declarations, with the imports a user writes", () => {
    // A project as create-next-app makes it (examples/next/tsconfig.json is
    // its template's; it installs @types/node too), with ts-oidc-auth
    // installed: package.json and the declarations the build emits.
    const dir = mkdtempSync(join(tmpdir(), "ts-oidc-auth-next-"));
    try {
      cpSync(join(ROOT, "examples/next"), dir, { recursive: true });
      const installed = join(dir, "node_modules/ts-oidc-auth");
      mkdirSync(installed, { recursive: true });
      copyFileSync(join(ROOT, "package.json"), join(installed, "package.json"));
      mkdirSync(join(dir, "node_modules/@types"));
      symlinkSync(join(ROOT, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
      const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
      const run = (args: string[]) =>
        spawnSync(process.execPath, [tsc, ...args], { cwd: ROOT, encoding: "utf8" });
      const emitted = run([
        "-p",
        "tsconfig.build.json",
        "--emitDeclarationOnly",
        "--declarationMap",
        "false",
        "--outDir",
        join(installed, "dist"),
      ]);
      assert.equal(emitted.status, 0, emitted.stdout + emitted.stderr);
      const checked = run(["-p", join(dir, "tsconfig.json"), "--incremental", "false"]);
      assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, PORT: String(port) },
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
  throw new Error(`${file} did not start:\n${output}`);
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
