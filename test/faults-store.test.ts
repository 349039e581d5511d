/**
 * Store faults and the lifecycle (docs/broker.md "Running several instances",
 * "Lifecycle"), against the real servers through a loopback TCP proxy that
 * the tests cut (a stopped server) or stall (a network dropping packets):
 * a logged-in user's refresh answers 503 with Retry-After within the store
 * timeout and works again once the store is back, each outage is logged
 * once, ioredis prints nothing; a store on a refused port answers 503
 * within the timeout; `ready()` names what failed; `close()` lets a process
 * exit by itself.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { createConnection } from "mysql2/promise";
import pg from "pg";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { BROKER_PREFIX, type BrokerApp, startBrokerApp } from "./helpers/broker-app.ts";
import { authPaths, codeFlow } from "./helpers/flows.ts";
import { capturingLogger, type Reply, TestClient } from "./helpers/http.ts";
import {
  describeWithService,
  probeMySQL,
  probePostgres,
  probeRedis,
  runId,
  serviceUrls,
} from "./helpers/services.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";

const TIMEOUT_MS = 1000;
/** A test that would hang without the fix fails after this instead. */
const TEST_TIMEOUT = { timeout: 30_000 };
/** What a 503 may take: the store timeout and a second for everything else. */
const ANSWER_WITHIN_MS = TIMEOUT_MS + 1000;
const CALLBACK = "http://127.0.0.1/cb";
const SECRET = "faults-store-test-secret-0123456789abcdef-0123";
const PASSWORD = "hunter2-store-password";
const paths = authPaths(BROKER_PREFIX);

let idp: DevIdp;
const apps: BrokerApp[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

// What ioredis and the drivers print on their own (e.g. "Unhandled error event").
const stderrText: string[] = [];
const writeStderr = process.stderr.write.bind(process.stderr);
process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  stderrText.push(String(chunk));
  return writeStderr(chunk, ...rest);
}) as typeof process.stderr.write;

before(async () => {
  idp = await startDevIdp();
});

after(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await Promise.all(apps.map((app) => app.auth.close()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await idp.stop();
  process.stderr.write = writeStderr;
});

function options(storeUrl: string, logLines: string[]): OIDCAuthOptions {
  return {
    clientId: idp.confidentialClient.clientId,
    clientSecret: idp.confidentialClient.clientSecret,
    discoveryUrl: idp.discoveryUrl,
    scopes: "myscope profile email",
    audience: idp.audience,
    brokerMode: true,
    brokerStoreUrl: storeUrl,
    brokerStoreTimeoutMs: TIMEOUT_MS,
    secret: SECRET,
    allowedRedirectUris: [CALLBACK],
    logger: capturingLogger(logLines),
  };
}

async function startApp(storeUrl: string, logLines: string[] = []) {
  const app = await startBrokerApp(() => options(storeUrl, logLines));
  apps.push(app);
  return new TestClient(app.url);
}

/** A port nothing listens on. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function timed<T>(call: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const result = await call();
  return { result, ms: Date.now() - started };
}

function assertUnavailable(reply: Reply, ms: number): void {
  assert.equal(reply.status, 503, reply.text);
  assert.equal(reply.json.error, "temporarily_unavailable");
  assert.ok(Number(reply.headers.get("retry-after")) > 0, "Retry-After");
  assert.ok(ms <= ANSWER_WITHIN_MS, `answered after ${ms} ms, allowed ${ANSWER_WITHIN_MS}`);
}

/** Refreshes until the store answers again (the driver reconnects in the background). */
async function refreshOnceBack(http: TestClient, refreshToken: string): Promise<Reply> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const reply = await http.post(paths.token, { refresh_token: refreshToken });
    if (reply.status !== 503 || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Backend {
  name: string;
  probe: () => Promise<string | null>;
  /** Creates what the test needs on the server; the store URL, and how to clean up. */
  prepare: () => Promise<{ url: string; cleanup: () => Promise<unknown> }>;
}

const database = `ts_oidc_auth_faults_${runId()}`;

const backends: Backend[] = [
  {
    name: "Redis",
    probe: () => probeRedis(),
    // A database number of its own, so that its keys are easy to tell apart.
    prepare: async () => ({ url: `${serviceUrls.redis}/13`, cleanup: async () => undefined }),
  },
  {
    name: "PostgreSQL",
    probe: () => probePostgres(),
    prepare: async () => {
      const admin = new pg.Client({ connectionString: serviceUrls.postgres });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${database}`);
      const url = new URL(serviceUrls.postgres);
      url.pathname = `/${database}`;
      return {
        url: url.href,
        cleanup: async () => {
          await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
          await admin.end();
        },
      };
    },
  },
  {
    name: "MariaDB",
    probe: () => probeMySQL(),
    prepare: async () => {
      const admin = await createConnection({ uri: serviceUrls.mysql });
      await admin.query(`CREATE DATABASE ${database}`);
      const url = new URL(serviceUrls.mysql);
      url.pathname = `/${database}`;
      return {
        url: url.href,
        cleanup: async () => {
          await admin.query(`DROP DATABASE IF EXISTS ${database}`);
          await admin.end();
        },
      };
    },
  },
];

for (const backend of backends) {
  describeWithService(`${backend.name} behind a proxy that fails`, await backend.probe(), () => {
    let proxy: TcpProxy;
    let http: TestClient;
    const logLines: string[] = [];

    before(async () => {
      const { url, cleanup } = await backend.prepare();
      cleanups.push(cleanup);
      const target = new URL(url);
      proxy = await startTcpProxy("127.0.0.1", Number(target.port));
      cleanups.push(() => proxy.close());
      http = await startApp(proxy.url(url), logLines);
    });

    const login = async () => {
      const reply = await codeFlow(http, BROKER_PREFIX, CALLBACK);
      assert.equal(reply.status, 200, reply.text);
      return String(reply.json.refresh_token);
    };

    it(
      "a refresh while the store is down answers 503 with Retry-After in time, once logged; afterwards it succeeds",
      TEST_TIMEOUT,
      async () => {
        const refreshToken = await login();
        const logged = logLines.length;
        const printed = stderrText.length;
        await proxy.cut();
        for (let attempt = 0; attempt < 3; attempt += 1) {
          const { result, ms } = await timed(() =>
            http.post(paths.token, { refresh_token: refreshToken }),
          );
          assertUnavailable(result, ms);
        }
        const errors = logLines.slice(logged).filter((line) => line.startsWith("error:"));
        assert.equal(errors.length, 1, `one error line per outage:\n${errors.join("\n")}`);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // reconnects fail meanwhile
        await proxy.restore();
        const reply = await refreshOnceBack(http, refreshToken);
        assert.equal(reply.status, 200, reply.text);
        assert.notEqual(reply.json.refresh_token, refreshToken);
        assert.ok(
          logLines.slice(logged).some((line) => line.includes("answers again")),
          "the end of the outage is logged",
        );
        const ownOutput = stderrText.slice(printed).join("");
        assert.doesNotMatch(ownOutput, /Unhandled error event|ECONNREFUSED|ECONNRESET/);
      },
    );

    it(
      "a refresh while the store swallows packets answers 503 in time; afterwards it succeeds",
      TEST_TIMEOUT,
      async () => {
        const refreshToken = await login();
        proxy.stall();
        const { result, ms } = await timed(() =>
          http.post(paths.token, { refresh_token: refreshToken }),
        );
        assertUnavailable(result, ms);
        await proxy.restore();
        const reply = await refreshOnceBack(http, refreshToken);
        assert.equal(reply.status, 200, reply.text);
      },
    );
  });
}

describe("a store on a refused port", () => {
  const urls = async () => {
    const port = await refusedPort();
    return {
      Redis: `redis://:${PASSWORD}@127.0.0.1:${port}/0`,
      PostgreSQL: `postgresql://postgres:${PASSWORD}@127.0.0.1:${port}/test`,
      MariaDB: `mysql://root:${PASSWORD}@127.0.0.1:${port}/test`,
    };
  };

  it("answers 503 within the timeout, for a refresh and for the JWKS", async () => {
    for (const [name, url] of Object.entries(await urls())) {
      const logLines: string[] = [];
      const http = await startApp(url, logLines);
      for (const path of [paths.jwks, paths.token]) {
        const { result, ms } = await timed(() =>
          path === paths.token
            ? http.post(path, { refresh_token: "rt.not-a-real-token" })
            : http.get(path),
        );
        assertUnavailable(result, ms);
      }
      assert.ok(
        logLines.some((line) => line.includes("ECONNREFUSED")),
        `${name}: the log names the cause\n${logLines.join("\n")}`,
      );
      assert.ok(!logLines.join("\n").includes(PASSWORD), `${name}: no password in the log`);
    }
  });

  it("ready() rejects naming the store URL (without its password) and the errno", async () => {
    for (const [name, url] of Object.entries(await urls())) {
      const auth = new OIDCAuth(options(url, []));
      cleanups.push(() => auth.close());
      const { ms } = await timed(() =>
        assert.rejects(auth.ready(), (error: Error) => {
          const shown = url.replace(/\/\/[^@]*@/, "//"); // without user and password
          assert.ok(error.message.includes(shown), `${name}: ${error.message}`);
          assert.match(error.message, /ECONNREFUSED/, name);
          assert.ok(!error.message.includes(PASSWORD), `${name}: no password`);
          return true;
        }),
      );
      assert.ok(ms <= ANSWER_WITHIN_MS, `${name}: ready() took ${ms} ms`);
    }
  });
});

describe("ready()", () => {
  it("rejects naming the discovery URL and the errno, or the HTTP status", async () => {
    const port = await refusedPort();
    const refused = `http://127.0.0.1:${port}/.well-known/openid-configuration`;
    const wrongPath = `${idp.issuer}/no-such-discovery-document`;
    for (const [discoveryUrl, cause] of [
      [refused, /ECONNREFUSED/],
      [wrongPath, /HTTP 404/],
    ] as const) {
      const auth = new OIDCAuth({ ...options("memory://", []), discoveryUrl });
      await assert.rejects(auth.ready(), (error: Error) => {
        assert.ok(error.message.includes(discoveryUrl), error.message);
        assert.match(error.message, cause);
        return true;
      });
      await auth.close();
    }
  });

  it("resolves once the IdP and the store answer", async () => {
    const auth = new OIDCAuth(options("memory://", []));
    await auth.ready();
    await auth.close();
  });
});

describeWithService("close()", await probeRedis(), () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  });

  /** Runs the child; resolves with its exit code, or "running" if it is still alive after `waitMs` past its request. */
  function runChild(storeUrl: string, close: boolean, waitMs: number) {
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/close-child.ts"], {
      env: {
        ...process.env,
        CLIENT_ID: idp.confidentialClient.clientId,
        CLIENT_SECRET: idp.confidentialClient.clientSecret,
        DISCOVERY_URL: idp.discoveryUrl,
        STORE_URL: storeUrl,
        SECRET,
        CLOSE: close ? "1" : "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on("data", (chunk) => {
      output += String(chunk);
    });
    return new Promise<{ exit: number | "running"; output: string }>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const startTimer = () => {
        timer ??= setTimeout(() => resolve({ exit: "running", output }), waitMs);
      };
      child.stdout?.on("data", () => {
        if (output.includes("jwks ")) startTimer();
      });
      // Startup (tsx, discovery) is slow on a busy machine: the clock starts at the request.
      const startAnyway = setTimeout(startTimer, 30_000);
      child.on("exit", (code) => {
        clearTimeout(startAnyway);
        clearTimeout(timer);
        resolve({ exit: code ?? -1, output });
      });
    });
  }

  it("lets a process with a Redis or PostgreSQL store exit by itself", async () => {
    const stores = [`${serviceUrls.redis}/13`];
    if ((await probePostgres()) === null) {
      // The database the PostgreSQL suite above created (and drops at the end).
      const url = new URL(serviceUrls.postgres);
      url.pathname = `/${database}`;
      stores.push(url.href);
    }
    for (const storeUrl of stores) {
      const { exit, output } = await runChild(storeUrl, true, 5000);
      assert.match(output, /jwks 200 [1-9]/);
      assert.equal(exit, 0, `${storeUrl}: ${output}`);
    }
  });

  it("without close(), the store's connection keeps the process alive (the check above can fail)", async () => {
    const { exit, output } = await runChild(`${serviceUrls.redis}/13`, false, 2000);
    assert.match(output, /jwks 200 [1-9]/);
    assert.equal(exit, "running", output);
  });
});
