/**
 * Refresh-token rotation under faults (README "Running several
 * instances"), with broker instances in their own processes sharing a real
 * store, the dev IdP behind a proxy that can hold or swallow its refresh
 * calls, and the store behind a TCP proxy that can be cut:
 * - an instance killed (SIGKILL) while the IdP holds its refresh call: the
 *   client's retry at another instance takes the expired claim over and
 *   succeeds with the stored IdP refresh token;
 * - the same when the IdP did rotate but its answer was lost: a clear 401
 *   "log in again", never a wait followed by "already being used";
 * - the store down while refreshes are half done (claimed, IdP called, not
 *   recorded): no session is lost. The instance keeps each new pair, answers
 *   the client's retry with it, and writes it once the store is back.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { authPaths, codeFlow } from "./helpers/flows.ts";
import { IdpProxy } from "./helpers/idp-proxy.ts";
import { type InstanceProcess, spawnInstance, stopInstances } from "./helpers/instance-process.ts";
import {
  describeWithService,
  probeMySQL,
  probePostgres,
  probeRedis,
  runId,
  serviceUrls,
} from "./helpers/services.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";

const paths = authPaths("/api");
const REDIRECT = "http://127.0.0.1/cb";
const TIMEOUT_MS = 2000;
const STORE_TIMEOUT_MS = 2000;
/** The broker's lease: the IdP and store timeouts, rounded up, plus 1 s. */
const LEASE_MS = (Math.ceil((TIMEOUT_MS + STORE_TIMEOUT_MS) / 1000) + 1) * 1000;
const database = `ts_oidc_auth_faults_${runId()}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !condition(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** A store the instances share, reached through a TCP proxy, on a database of its own. */
interface SharedStore {
  name: string;
  unavailable: () => Promise<string | null>;
  /** Creates the private database; returns its URL through the proxy at `port`. */
  setUp(port: number): Promise<string>;
  target: { host: string; port: number };
  tearDown(): Promise<unknown>;
}

const postgres: SharedStore = {
  name: "PostgreSQL",
  unavailable: () => probePostgres(),
  target: { host: "127.0.0.1", port: Number(new URL(serviceUrls.postgres).port || 5432) },
  async setUp(port) {
    await withPg(async (client) => {
      await client.query(`CREATE DATABASE ${database}`);
    });
    const url = new URL(serviceUrls.postgres);
    url.port = String(port);
    url.pathname = `/${database}`;
    return url.href;
  },
  tearDown: () =>
    withPg((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)),
};

const mariadb: SharedStore = {
  name: "MariaDB",
  unavailable: () => probeMySQL(),
  target: { host: "127.0.0.1", port: Number(new URL(serviceUrls.mysql).port || 3306) },
  async setUp(port) {
    await withMySQL((client) => client.query(`CREATE DATABASE ${database}`));
    const url = new URL(serviceUrls.mysql);
    url.port = String(port);
    url.pathname = `/${database}`;
    return url.href;
  },
  async tearDown() {
    await withMySQL((client) => client.query(`DROP DATABASE IF EXISTS ${database}`));
  },
};

/**
 * Redis keeps its data through a cut connection. This suite keeps its keys
 * in a database number of its own and deletes them (only its own) at the end.
 */
const REDIS_DB = 13;
const redis: SharedStore = {
  name: "Redis",
  unavailable: () => probeRedis(),
  target: { host: "127.0.0.1", port: Number(new URL(serviceUrls.redis).port || 6379) },
  async setUp(port) {
    const url = new URL(serviceUrls.redis);
    url.port = String(port);
    url.pathname = `/${REDIS_DB}`;
    return url.href;
  },
  async tearDown() {
    const client = new Redis(serviceUrls.redis, { db: REDIS_DB });
    const keys = await client.keys("oidc_broker:*");
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  },
};

async function withPg<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serviceUrls.postgres });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function withMySQL<T>(use: (client: mysql.Connection) => Promise<T>): Promise<T> {
  const client = await mysql.createConnection(serviceUrls.mysql);
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

for (const store of [postgres, mariadb, redis]) {
  describeWithService(`rotation under faults, ${store.name}`, await store.unavailable(), () => {
    let idp: DevIdp;
    let idpProxy: IdpProxy;
    let storeProxy: TcpProxy;
    let storeUrl: string;
    const instances: InstanceProcess[] = [];

    before(async () => {
      idp = await startDevIdp({ rotateRefreshTokens: true });
      idpProxy = await IdpProxy.start(idp.issuer);
      storeProxy = await startTcpProxy(store.target.host, store.target.port);
      storeUrl = await store.setUp(storeProxy.port);
    });

    after(async () => {
      await stopInstances(instances);
      await storeProxy.close();
      await store.tearDown();
      await idpProxy.close();
      await idp.stop();
    });

    async function start(count: number): Promise<InstanceProcess[]> {
      const started = await Promise.all(
        Array.from({ length: count }, () =>
          spawnInstance({
            CLIENT_ID: idp.confidentialClient.clientId,
            CLIENT_SECRET: idp.confidentialClient.clientSecret,
            DISCOVERY_URL: idpProxy.discoveryUrl,
            AUDIENCE: idp.audience,
            STORE_URL: storeUrl,
            BROKER_ISSUER: "https://app.example.test/api",
            GRACE_SECONDS: "5",
            SECRET: "fault-suite-secret-0123456789abcdef-0123",
            TIMEOUT_MS: String(TIMEOUT_MS),
            STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
            VERBOSE: "1",
          }),
        ),
      );
      instances.push(...started);
      return started;
    }

    const refresh = (instance: InstanceProcess, token: string) =>
      instance.http.post(paths.token, { refresh_token: token });

    async function login(instance: InstanceProcess): Promise<string> {
      const reply = await codeFlow(instance.http, "/api", REDIRECT);
      assert.equal(reply.status, 200, reply.text);
      return String(reply.json.refresh_token);
    }

    it("a retry takes over the claim of an instance killed while the IdP held its refresh", async () => {
      const [doomed, survivor] = (await start(2)) as [InstanceProcess, InstanceProcess];
      const token = await login(doomed);
      idpProxy.mode = "hold";
      const lost = refresh(doomed, token).catch(() => undefined);
      await until(() => idpProxy.held === 1, "the held refresh");
      doomed.child.kill("SIGKILL");
      await lost;
      idpProxy.mode = "pass";
      const calls = idpProxy.refreshCalls;
      const started = Date.now();
      const retry = await refresh(survivor, token);
      assert.equal(retry.status, 200, retry.text);
      assert.ok(Date.now() - started < LEASE_MS + TIMEOUT_MS + 1000, "bounded by the lease");
      assert.equal(
        idpProxy.refreshCalls,
        calls + 1,
        "the taken-over claim refreshed at the IdP once",
      );
      assert.ok(
        survivor.log.some((line) => line.includes("was taken over")),
        survivor.log.join("\n"),
      );
      assert.equal((await refresh(survivor, String(retry.json.refresh_token))).status, 200);
    });

    it("answers 401 'log in again' when the IdP rotated but its answer was lost", async () => {
      const [doomed, survivor] = (await start(2)) as [InstanceProcess, InstanceProcess];
      const token = await login(doomed);
      idpProxy.mode = "swallow";
      const calls = idpProxy.refreshCalls;
      const lost = refresh(doomed, token).catch(() => undefined);
      await until(() => idpProxy.refreshCalls === calls + 1, "the swallowed refresh");
      doomed.child.kill("SIGKILL");
      await lost;
      idpProxy.mode = "pass";
      const retry = await refresh(survivor, token);
      assert.equal(retry.status, 401, retry.text);
      assert.equal(retry.json.error, "invalid_grant");
      assert.match(String(retry.json.error_description), /log in again/);
      // The session is gone everywhere: the next try is a plain 401, at once.
      const again = await refresh(survivor, token);
      assert.equal(again.status, 401);
    });

    it("loses no session when the store goes down between the IdP refresh and its record", async () => {
      const [first, second] = (await start(2)) as [InstanceProcess, InstanceProcess];
      const tokens = await Promise.all(Array.from({ length: 5 }, () => login(first)));
      idpProxy.mode = "hold";
      const pending = tokens.map((token) => refresh(first, token));
      await until(() => idpProxy.held === 5, "five claimed refreshes at the IdP");
      await storeProxy.cut();
      idpProxy.release();
      for (const reply of await Promise.all(pending)) {
        assert.equal(reply.status, 503, reply.text);
        assert.ok(reply.headers.get("retry-after"));
      }
      // While the store is down, the instance that holds the new pairs answers with them.
      const held = await Promise.all(tokens.map((token) => refresh(first, token)));
      for (const reply of held) assert.equal(reply.status, 200, reply.text);
      const elsewhere = await refresh(second, tokens[0] as string);
      assert.equal(elsewhere.status, 503, elsewhere.text);
      await sleep(10_000 - 1000);
      await storeProxy.restore();
      await until(
        () => first.log.filter((line) => line.includes("is now recorded")).length === 5,
        "the held rotations to be recorded",
      );
      // Every session goes on, at either instance, from the pair it was given.
      const next = await Promise.all(
        held.map((reply, i) => refresh(i % 2 ? first : second, String(reply.json.refresh_token))),
      );
      const logs = [...first.log, ...second.log].join("\n");
      for (const reply of next) assert.equal(reply.status, 200, `${reply.text}\n${logs}`);
    });
  });
}
