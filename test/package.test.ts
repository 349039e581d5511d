/**
 * The package as npm publishes it (README: Install, CommonJS): the tarball of
 * `npm pack` (which builds first) installed into clean projects from the npm
 * cache. Every entry point of `exports` is imported from ESM and required
 * from CommonJS, with every name the source exports; a CommonJS Express
 * project and a CommonJS NestJS project (test/fixtures/) compile with tsc
 * and log in through the dev IdP to a protected route.
 */
import assert from "node:assert/strict";
import { type SpawnOptions, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { ALICE, codeFlow } from "./helpers/flows.ts";
import { TestClient } from "./helpers/http.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  engines: { node: string };
  exports: Record<string, { import: string; default: string; types: string }>;
};
/** What importing every entry point needs at run time (fastify's and koa's adapters need types only). */
const RUNTIME_PEERS = [
  "express@^5.3.0",
  "hono@^4.13.19",
  "@koa/router@^15.7.0",
  "@nestjs/common@^11.2.10",
  "@nestjs/core@^11.2.10",
  "reflect-metadata@^0.2.2",
  "rxjs@^7.8.2",
];

let work: string;
let tarball: string;
let idp: DevIdp;
const projects = { consumer: "", express: "", nest: "" };

before(async () => {
  work = mkdtempSync(join(tmpdir(), "ts-oidc-auth-package-"));
  // npm pack runs prepack, the build, so the tarball holds what the source is now.
  const packed = await run("npm", ["pack", "--silent", "--pack-destination", work], ROOT);
  tarball = join(work, packed.stdout.trim().split("\n").at(-1) ?? "");
  projects.consumer = join(work, "consumer");
  projects.express = join(work, "express-cjs");
  projects.nest = join(work, "nest-cjs");
  cpSync(join(ROOT, "test/fixtures/express-cjs"), projects.express, { recursive: true });
  cpSync(join(ROOT, "test/fixtures/nest-cjs"), projects.nest, { recursive: true });
  mkdirSync(projects.consumer);
  writeFileSync(
    join(projects.consumer, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "commonjs" }),
  );
  const [, , , started] = await Promise.all([
    install(projects.consumer, RUNTIME_PEERS),
    install(projects.express),
    install(projects.nest),
    startDevIdp(),
  ]);
  idp = started;
});

after(async () => {
  await idp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("requires a Node.js with require(esm) in every release engines allows", () => {
    // require(esm) without a flag: 20.19+ and 22.12+ (23+ too); 21 and 22.0–22.11 need one.
    assert.equal(PACKAGE.engines.node, "^20.19.0 || >=22.12.0");
    assert.equal(process.features.require_module, true, `Node.js ${process.versions.node}`);
  });

  it("ships LICENSE, CHANGELOG.md, declarations and no sourcemaps pointing at unshipped src/", async () => {
    const listed = await run("tar", ["-tzf", tarball], work);
    const files = listed.stdout.split("\n").filter(Boolean);
    for (const file of ["package/LICENSE", "package/CHANGELOG.md", "package/README.md"]) {
      assert.ok(files.includes(file), `${file} in the tarball`);
    }
    assert.deepEqual(
      files.filter((file) => file.endsWith(".map") || file.startsWith("package/src/")),
      [],
    );
    for (const entry of Object.values(PACKAGE.exports)) {
      assert.ok(files.includes(`package/${entry.types.slice(2)}`), entry.types);
    }
  });

  it("installs the ts-oidc-auth command, which finds its package.json from dist/", async () => {
    const bin = join(projects.consumer, "node_modules/.bin/ts-oidc-auth");
    const result = await run(bin, ["--version"], projects.consumer);
    assert.equal(result.stdout, `ts-oidc-auth ${PACKAGE.version}\n`);
  });

  for (const [mode, file] of [
    ["import (ESM)", "load.mjs"],
    ["require (CommonJS)", "load.cjs"],
  ] as const) {
    it(`${mode}: every entry point of exports, with every name its source exports`, async () => {
      const names = Object.keys(PACKAGE.exports).map((key) => `ts-oidc-auth${key.slice(1)}`);
      writeFileSync(join(projects.consumer, "load.mjs"), loader("await import(name)"));
      writeFileSync(join(projects.consumer, "load.cjs"), loader("require(name)"));
      const loaded = await run(process.execPath, [file, JSON.stringify(names)], projects.consumer);
      assert.deepEqual(JSON.parse(loaded.stdout), await sourceExports());
    });
  }
});

describe("CommonJS projects installing the tarball", () => {
  it("Express (npm init, module nodenext, strict, skipLibCheck off): compiles, logs in, guards a route", async () => {
    await tsc(projects.express, ["-p", "tsconfig.json"]);
    await roundTrip(["dist/main.js"], projects.express);
  });

  it("NestJS (nest new --strict, and the module commonjs tsconfig of earlier Nest CLIs): compiles, logs in, guards a route", async () => {
    await tsc(projects.nest, ["-p", "tsconfig.build.json", "--noEmit"]);
    await tsc(projects.nest, ["-p", "tsconfig.commonjs.json"]);
    await roundTrip(["dist/main.js"], projects.nest);
  });
});

/** A script that loads each entry point named in argv[2] and prints its export names. */
function loader(load: string): string {
  const body = `for (const name of JSON.parse(process.argv[2])) names[name] = Object.keys(${load}).sort();`;
  const wrapped = load.startsWith("await") ? body : `(() => { ${body} })();`;
  return `const names = {};\n${wrapped}\nconsole.log(JSON.stringify(names));\n`;
}

/** Export names of each entry point, read from the source its dist file is built from. */
async function sourceExports(): Promise<Record<string, string[]>> {
  const names: Record<string, string[]> = {};
  for (const [key, entry] of Object.entries(PACKAGE.exports)) {
    const source = entry.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
    const module = (await import(pathToFileURL(join(ROOT, source)).href)) as object;
    names[`ts-oidc-auth${key.slice(1)}`] = Object.keys(module).sort();
  }
  return names;
}

async function install(project: string, extra: string[] = []): Promise<void> {
  // The packages come from the npm cache that npm ci filled; the registry only for what is missing.
  const args = ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];
  await run("npm", [...args, tarball, ...extra], project);
}

async function tsc(project: string, args: string[]): Promise<void> {
  await run(process.execPath, [TSC, ...args, "--incremental", "false"], project);
}

/** Starts the built app, then: 401 without a token, the code flow through /api, 200 with its token. */
async function roundTrip(args: string[], project: string): Promise<void> {
  const port = await freePort();
  const app = spawn(process.execPath, args, {
    cwd: project,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      OIDC_DISCOVERY_URL: idp.discoveryUrl,
      OIDC_CLIENT_ID: idp.confidentialClient.clientId,
      OIDC_CLIENT_SECRET: idp.confidentialClient.clientSecret,
      OIDC_AUDIENCE: idp.audience,
    },
  });
  let output = "";
  app.stdout.on("data", (chunk) => {
    output += chunk;
  });
  app.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exited = once(app, "exit");
  try {
    const http = new TestClient(`http://127.0.0.1:${port}`);
    await untilListening(
      http,
      () => app.exitCode !== null,
      () => output,
    );
    assert.equal((await http.get("/me")).status, 401, output);
    const login = await codeFlow(http, "/api", "http://127.0.0.1:8765/cb");
    assert.equal(login.status, 200, login.text);
    const accessToken = login.json.access_token;
    assert.equal(typeof accessToken, "string");
    const me = await http.get("/me", { authorization: `Bearer ${accessToken}` });
    const alice = idp.users.find((user) => user.username === ALICE.username);
    assert.deepEqual([me.status, me.json], [200, { sub: alice?.sub, module: "object" }], output);
  } finally {
    if (app.exitCode === null) app.kill();
    await exited;
  }
}

async function untilListening(
  http: TestClient,
  exited: () => boolean,
  output: () => string,
): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && !exited(); ) {
    try {
      await http.get("/");
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`the app did not start:\n${output()}`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Runs a command to its end; a non-zero exit fails with its output. */
async function run(command: string, args: string[], cwd: string, options: SpawnOptions = {}) {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], ...options });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, "close")) as [number | null];
  assert.equal(code, 0, `${command} ${args.join(" ")} in ${cwd}:\n${stdout}\n${stderr}`);
  return { stdout, stderr };
}
