/**
 * Three broker instances in three Node processes sharing one PostgreSQL
 * database (SPEC §5): one signing key however they race; of 20 concurrent
 * refreshes of one refresh token spread over the processes exactly one
 * reaches the IdP and every success carries the same new pair; with no
 * grace window exactly one succeeds; after the window, reuse revokes the
 * session; no row is lost or duplicated. The IdP's token endpoint is reached
 * through a counting proxy on loopback.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import pg from "pg";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { authPaths, codeFlow } from "./helpers/flows.ts";
import type { TestClient } from "./helpers/http.ts";
import { IdpProxy } from "./helpers/idp-proxy.ts";
import { type InstanceProcess, spawnInstance, stopInstances } from "./helpers/instance-process.ts";
import { describeWithService, probePostgres, runId, serviceUrls } from "./helpers/services.ts";

const paths = authPaths("/api");
const database = `ts_oidc_auth_mp_${runId()}`;
const databaseUrl = () => {
  const url = new URL(serviceUrls.postgres);
  url.pathname = `/${database}`;
  return url.href;
};

describeWithService("three processes on one PostgreSQL store", await probePostgres(), () => {
  let idp: DevIdp;
  let proxy: IdpProxy;
  let admin: pg.Client;
  let db: pg.Client;
  const instances: InstanceProcess[] = [];

  async function startInstances(count: number, graceSeconds: number): Promise<TestClient[]> {
    const env = {
      CLIENT_ID: idp.confidentialClient.clientId,
      CLIENT_SECRET: idp.confidentialClient.clientSecret,
      DISCOVERY_URL: proxy.discoveryUrl,
      AUDIENCE: idp.audience,
      STORE_URL: databaseUrl().replace("postgresql://", "postgresql+asyncpg://"),
      BROKER_ISSUER: "https://app.example.test/api",
      GRACE_SECONDS: String(graceSeconds),
      SECRET: "multi-process-secret-0123456789abcdef-0123",
    };
    const started = await Promise.all(Array.from({ length: count }, () => spawnInstance(env)));
    instances.push(...started);
    return started.map((instance) => instance.http);
  }

  const count = async (table: string, where = "") =>
    Number((await db.query(`SELECT count(*) AS n FROM oidc_broker_${table} ${where}`)).rows[0].n);

  before(async () => {
    idp = await startDevIdp();
    proxy = await IdpProxy.start(idp.issuer);
    admin = new pg.Client({ connectionString: serviceUrls.postgres });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    db = new pg.Client({ connectionString: databaseUrl() });
    await db.connect();
  });

  after(async () => {
    await stopInstances(instances);
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await proxy.close();
    await idp.stop();
  });

  it("creates one signing key, rotates once for 20 concurrent refreshes, and revokes on reuse", async () => {
    const instances = await startInstances(3, 2);

    // All three create the slot's key at the same moment: one wins.
    const jwks = await Promise.all(instances.map((http) => http.get(`${paths.jwks}`)));
    for (const reply of jwks) assert.equal(reply.status, 200, reply.text);
    assert.equal(
      new Set(jwks.map((reply) => reply.text)).size,
      1,
      "every instance publishes the same keys",
    );
    assert.equal(await count("signing_keys"), 1);

    const login = await codeFlow(instances[0] as TestClient, "/api", "http://127.0.0.1/cb");
    assert.equal(login.status, 200, login.text);
    const refreshToken = String(login.json.refresh_token);
    const callsBefore = proxy.refreshCalls;
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (instances[i % 3] as TestClient).post(paths.token, { refresh_token: refreshToken }),
      ),
    );
    for (const reply of replies) assert.equal(reply.status, 200, reply.text);
    assert.equal(proxy.refreshCalls - callsBefore, 1, "exactly one IdP refresh");
    assert.equal(
      new Set(replies.map((r) => `${r.json.access_token} ${r.json.refresh_token}`)).size,
      1,
    );
    assert.equal(await count("sessions"), 1);
    assert.equal(await count("refresh_tokens"), 2, "the consumed token and its one successor");
    assert.equal(await count("refresh_tokens", "WHERE consumed_at IS NULL"), 1);

    // After the window, the old token is reuse: the whole session goes.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const reuse = await (instances[1] as TestClient).post(paths.token, {
      refresh_token: refreshToken,
    });
    assert.equal(reuse.status, 401, reuse.text);
    const next = await (instances[2] as TestClient).post(paths.token, {
      refresh_token: String(replies[0]?.json.refresh_token),
    });
    assert.equal(next.status, 401);
    assert.equal(await count("sessions"), 0);
    assert.equal(await count("refresh_tokens"), 0);
  });

  it("without a grace window, exactly one of 20 concurrent refreshes succeeds", async () => {
    const instances = await startInstances(3, 0);
    const login = await codeFlow(instances[0] as TestClient, "/api", "http://127.0.0.1/cb");
    const refreshToken = String(login.json.refresh_token);
    const callsBefore = proxy.refreshCalls;
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (instances[i % 3] as TestClient).post(paths.token, { refresh_token: refreshToken }),
      ),
    );
    const statuses = replies.map((reply) => reply.status);
    assert.equal(statuses.filter((status) => status === 200).length, 1, statuses.join(","));
    assert.ok(
      statuses.every((status) => status === 200 || (status >= 400 && status < 500)),
      statuses.join(","),
    );
    assert.equal(proxy.refreshCalls - callsBefore, 1);
  });
});
