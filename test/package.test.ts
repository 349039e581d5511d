/**
 * The package as npm publishes it (README: Install, CommonJS): the tarball of
 * `npm pack` (which builds first) installed into clean projects from the npm
 * cache. Every entry point of `exports` is imported from ESM and required
 * from CommonJS, with every name the source exports. Scratch projects as
 * each framework's tooling makes them (test/fixtures/, README: CommonJS)
 * build and log in through the dev IdP to a protected route: CommonJS
 * Express and NestJS; ESM Express, Fastify, Hono, Koa and NestJS, each
 * README quick start compiled by tsc as written; and the Next.js quick
 * start through `next build` and `next start` (issue 12, item 3).
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
  devDependencies: Record<string, string>;
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

/**
 * A project as its framework's tooling makes it: test/fixtures/<fixture>
 * (package.json, tsconfig.json, …) with `sources` copied in from the
 * repository (the README's quick starts, as a user pastes them), built by
 * `build`, then run by `node <start>` and logged in through.
 */
interface ScratchProject {
  fixture: string;
  title: string;
  sources?: Record<string, string>;
  build: string[][];
  start: string[];
  /** What GET /me answers besides `sub`. */
  me?: Record<string, string>;
  /** The quick starts' own route beside the auth endpoints, /api/auth/v2/auth-ports. */
  portsRoute?: boolean;
  env?: Record<string, string>;
}

const TSC_BUILD = [TSC, "-p", "tsconfig.json", "--incremental", "false"];
const NEXT = "node_modules/next/dist/bin/next";
/** The npm init / nest new projects whose output is CommonJS (README: CommonJS). */
const COMMONJS_PROJECTS: ScratchProject[] = [
  {
    fixture: "express-cjs",
    title: "Express (npm init, module nodenext, strict, skipLibCheck off)",
    build: [TSC_BUILD],
    start: ["dist/main.js"],
    me: { module: "object" },
  },
  {
    fixture: "nest-cjs",
    title: "NestJS (nest new --strict, and the module commonjs tsconfig of earlier Nest CLIs)",
    build: [
      [TSC, "-p", "tsconfig.build.json", "--noEmit", "--incremental", "false"],
      [TSC, "-p", "tsconfig.commonjs.json", "--incremental", "false"],
    ],
    start: ["dist/main.js"],
    me: { module: "object" },
  },
];
/** "type": "module" projects, module NodeNext, strict, skipLibCheck off, each README quick start as src/main.ts. */
const ESM_PROJECTS: ScratchProject[] = ["express", "fastify", "hono", "koa", "nestjs"].map(
  (name) => ({
    fixture: `${name.replace(/js$/, "")}-esm`,
    title: `examples/${name}.ts`,
    sources: { [`examples/${name}.ts`]: "src/main.ts" },
    build: [TSC_BUILD],
    start: ["dist/main.js"],
    portsRoute: true,
  }),
);
/** create-next-app --app --ts: its tsconfig is examples/next/tsconfig.json, copied with the route files. */
const NEXT_PROJECT: ScratchProject = {
  fixture: "next-app",
  title: "Next.js App Router (create-next-app, module esnext, moduleResolution bundler, strict)",
  sources: { "examples/next": "." },
  build: [[NEXT, "build"]],
  start: [NEXT, "start"],
  portsRoute: true,
  env: { NEXT_TELEMETRY_DISABLED: "1" },
};
const PROJECTS = [...COMMONJS_PROJECTS, ...ESM_PROJECTS, NEXT_PROJECT];

let work: string;
let tarball: string;
let idp: DevIdp;
let consumer: string;
const projectDirs = new Map<ScratchProject, string>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), "ts-oidc-auth-package-"));
  // npm pack runs prepack, the build, so the tarball holds what the source is now.
  const packed = await run("npm", ["pack", "--silent", "--pack-destination", work], ROOT);
  tarball = join(work, packed.stdout.trim().split("\n").at(-1) ?? "");
  consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "commonjs" }),
  );
  for (const project of PROJECTS) projectDirs.set(project, copyProject(project));
  const [, started] = await Promise.all([
    install(consumer, RUNTIME_PEERS),
    startDevIdp(),
    ...[...projectDirs.values()].map((dir) => install(dir)),
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
    const bin = join(consumer, "node_modules/.bin/ts-oidc-auth");
    const result = await run(bin, ["--version"], consumer);
    assert.equal(result.stdout, `ts-oidc-auth ${PACKAGE.version}\n`);
  });

  for (const [mode, file] of [
    ["import (ESM)", "load.mjs"],
    ["require (CommonJS)", "load.cjs"],
  ] as const) {
    it(`${mode}: every entry point of exports, with every name its source exports`, async () => {
      const names = Object.keys(PACKAGE.exports).map((key) => `ts-oidc-auth${key.slice(1)}`);
      writeFileSync(join(consumer, "load.mjs"), loader("await import(name)"));
      writeFileSync(join(consumer, "load.cjs"), loader("require(name)"));
      const loaded = await run(process.execPath, [file, JSON.stringify(names)], consumer);
      assert.deepEqual(JSON.parse(loaded.stdout), await sourceExports());
    });
  }
});

for (const [kind, projects] of [
  ["CommonJS", COMMONJS_PROJECTS],
  ["ESM", ESM_PROJECTS],
  ["Next.js", [NEXT_PROJECT]],
] as const) {
  describe(`${kind} projects installing the tarball`, () => {
    for (const project of projects) {
      it(`${project.title}: builds, logs in, guards a route`, async () => {
        const dir = projectDirs.get(project) ?? "";
        for (const args of project.build) {
          await run(process.execPath, args, dir, { env: { ...process.env, ...project.env } });
        }
        await roundTrip(project, dir);
      });
    }
  });
}

describe("the Next.js project", () => {
  it("installs the next of our devDependencies and the react npm ci installed beside it", () => {
    const fixture = readJson(join(ROOT, "test/fixtures", NEXT_PROJECT.fixture, "package.json"));
    const lock = readJson(join(ROOT, "package-lock.json")) as {
      packages: Record<string, { version: string }>;
    };
    assert.deepEqual(fixture.dependencies, {
      next: PACKAGE.devDependencies.next,
      react: lock.packages["node_modules/react"]?.version,
      "react-dom": lock.packages["node_modules/react-dom"]?.version,
    });
  });
});

/** Copies the fixture and the repository files it takes to a directory of its own. */
function copyProject(project: ScratchProject): string {
  const dir = join(work, project.fixture);
  cpSync(join(ROOT, "test/fixtures", project.fixture), dir, { recursive: true });
  for (const [from, to] of Object.entries(project.sources ?? {})) {
    cpSync(join(ROOT, from), join(dir, to), { recursive: true });
  }
  return dir;
}

function readJson(path: string): { dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(path, "utf8")) as { dependencies?: Record<string, string> };
}

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

/** Starts the built app, then: 401 without a token, the code flow through /api, 200 with its token. */
async function roundTrip(project: ScratchProject, dir: string): Promise<void> {
  const port = await freePort();
  const app = spawn(process.execPath, project.start, {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      OIDC_DISCOVERY_URL: idp.discoveryUrl,
      OIDC_CLIENT_ID: idp.confidentialClient.clientId,
      OIDC_CLIENT_SECRET: idp.confidentialClient.clientSecret,
      OIDC_AUDIENCE: idp.audience,
      ...project.env,
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
    if (project.portsRoute) {
      const ports = await http.get("/api/auth/v2/auth-ports");
      assert.deepEqual([ports.status, ports.json], [200, { valid_ports: [8080, 8443] }], output);
    }
    const login = await codeFlow(http, "/api", "http://127.0.0.1:8765/cb");
    assert.equal(login.status, 200, login.text);
    const accessToken = login.json.access_token;
    assert.equal(typeof accessToken, "string");
    const me = await http.get("/me", { authorization: `Bearer ${accessToken}` });
    const alice = idp.users.find((user) => user.username === ALICE.username);
    assert.deepEqual([me.status, me.json], [200, { sub: alice?.sub, ...project.me }], output);
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
