/**
 * Broker benchmark, in-process (the auth core called directly, no HTTP):
 * - mint: broker access tokens signed per second (RS256, the default);
 * - verify: broker tokens verified per second, in full (1,000 distinct
 *   tokens) and through the guard with its cache;
 * - refresh: rotations per second with p50/p99 latency, 10 concurrent
 *   clients each rotating its own session's refresh token as fast as it
 *   can, on PostgreSQL, SQLite and Redis; each rotation refreshes at the dev
 *   IdP (a real oidc-provider on loopback, in its own process), whose share
 *   of the time is reported; and the same without an IdP refresh token (the
 *   broker and its store alone), with RS256 and with EdDSA broker keys. The
 *   CPU time per rotation of the broker's process and of the store's server
 *   (from /proc) say where a 2-core machine's time goes.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import * as client from "openid-client";
import { IdpUserAgent } from "../dev-idp/user-agent.ts";
import { Broker } from "../src/broker/broker.ts";
import { BROKER_OPTION_NAMES, resolveBrokerOptions } from "../src/broker/options.ts";
import { AuthCore } from "../src/core/auth-core.ts";
import type { IDToken } from "../src/core/claims.ts";
import type { AuthRequest } from "../src/core/http.ts";
import { IdentityProvider } from "../src/core/idp.ts";
import { resolveOptions } from "../src/core/options.ts";
import type { OIDCAuthOptions } from "../src/oidc-auth.ts";
import type { BrokerStore } from "../src/stores/types.ts";
import { BENCH_DIR, median, NODE_TS, percentile, pinned } from "./common.ts";

export interface BrokerRow {
  what: string;
  store: string;
  clients: number;
  perSecond: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Share of the rotation time spent in the IdP refresh call. */
  idpShare?: number;
  /** CPU ms per operation of the broker's process (its Web Crypto threads included). */
  brokerCpuMs?: number;
  /** CPU ms per operation of the store's server (PostgreSQL's backends, redis-server). */
  storeCpuMs?: number;
  note?: string;
}

export interface BrokerOptions {
  seconds: number;
  clients: number;
  postgresUrl: string;
  log: (line: string) => void;
}

const quiet = { warn() {}, error() {} };
const CALLBACK = "http://127.0.0.1/cb";
const PG_PREFIX = "oidc_bench_";

/** An auth object in broker mode, and its broker for calling it directly. */
export function brokerAuth(options: OIDCAuthOptions): { auth: AuthCore; broker: Broker } {
  let broker: Broker | undefined;
  const auth = new AuthCore(options, {
    optionNames: Object.keys(BROKER_OPTION_NAMES),
    create: (services) => {
      broker = new Broker(resolveBrokerOptions(options), services);
      return broker;
    },
  });
  if (broker === undefined) throw new Error("not in broker mode");
  return { auth, broker };
}

export function request(
  method: string,
  query: Record<string, string>,
  form?: Record<string, string>,
): AuthRequest {
  const body = new URLSearchParams(form).toString();
  return {
    method,
    query: new URLSearchParams(query),
    authorization: undefined,
    contentType: form ? "application/x-www-form-urlencoded" : undefined,
    body: () => body,
  };
}

interface DevIdpProcess {
  discoveryUrl: string;
  stop(): Promise<void>;
}

/** The dev IdP in a process of its own on core 1, as an IdP would be: not on the broker's thread. */
export async function startIdpProcess(): Promise<DevIdpProcess> {
  const [file, ...args] = pinned(1, [...NODE_TS, `${BENCH_DIR}idp-process.ts`]) as [
    string,
    ...string[],
  ];
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "inherit"] });
  const discoveryUrl = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`dev IdP exited (${code})`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.startsWith("discovery ")) resolve(line.slice("discovery ".length));
    });
  });
  return {
    discoveryUrl,
    async stop() {
      child.stdin.end();
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

interface LoadResult {
  count: number;
  elapsed: number;
  latencies: number[];
}

/** A row's throughput and latency from a `loadFor` run. */
function loadRow(what: string, store: string, clients: number, load: LoadResult): BrokerRow {
  return {
    what,
    store,
    clients,
    perSecond: load.count / load.elapsed,
    p50Ms: median(load.latencies),
    p99Ms: percentile(load.latencies, 99),
  };
}

/** Runs `clients` loops of `step` for `seconds`; every step's latency in ms. */
export async function loadFor(
  seconds: number,
  clients: number,
  step: (client: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await step(client);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { count: latencies.length, elapsed: (performance.now() - start) / 1000, latencies };
}

/** Clock ticks per second of /proc's CPU times. */
const CLOCK_TICKS =
  Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** utime, stime, cutime, cstime and ppid of a process from /proc (Linux), in ms; undefined if gone. */
function procTimes(pid: number): { own: number; reaped: number; ppid: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  const tick = 1000 / CLOCK_TICKS;
  const [ppid, utime, stime, cutime, cstime] = [1, 11, 12, 13, 14].map((i) => fields[i] ?? 0) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { own: (utime + stime) * tick, reaped: (cutime + cstime) * tick, ppid };
}

/**
 * CPU ms a server has used so far: the process, its live children (PostgreSQL's
 * backends) and the children it has reaped. Undefined where /proc cannot tell.
 */
function serverCpuMs(pid: number): number | undefined {
  const root = procTimes(pid);
  if (root === undefined) return undefined;
  let total = root.own + root.reaped;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const child = procTimes(Number(entry));
    if (child?.ppid === pid) total += child.own;
  }
  return total;
}

/** CPU ms this process has used so far, its libuv threads (Web Crypto jobs) included. */
function brokerCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export async function openStore(
  kind: "postgres" | "sqlite" | "redis",
  postgresUrl: string,
  dir: string,
) {
  const stores = await import("../src/stores/index.ts");
  if (kind === "redis") {
    // A private redis-server (no persistence) of this run, never the shared one.
    const port = 20000 + (process.pid % 20000);
    const server = spawn(
      "redis-server",
      ["--port", String(port), "--save", "", "--appendonly", "no"],
      {
        stdio: "ignore",
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (server.exitCode !== null) throw new Error("redis-server did not start");
    const store = new stores.RedisBrokerStore({ url: `redis://127.0.0.1:${port}` });
    return {
      store: store as BrokerStore,
      label: "Redis",
      serverCpuMs: () => (server.pid === undefined ? undefined : serverCpuMs(server.pid)),
      async close() {
        await store.close();
        server.kill();
        await once(server, "exit");
      },
    };
  }
  if (kind === "postgres") {
    const pg = await import("pg");
    const pool = new pg.default.Pool({ connectionString: postgresUrl, max: 10 });
    await dropBenchTables(pool);
    const store = new stores.PostgresBrokerStore({ pool, tablePrefix: PG_PREFIX });
    // The postmaster: the parent of a backend, when the server runs on this machine.
    const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const postmaster = procTimes(Number(rows[0]?.pid))?.ppid;
    return {
      store: store as BrokerStore,
      label: "PostgreSQL",
      serverCpuMs: () => (postmaster === undefined ? undefined : serverCpuMs(postmaster)),
      async close() {
        await store.close();
        await dropBenchTables(pool);
        await pool.end();
      },
    };
  }
  const store = new stores.SQLiteBrokerStore({
    path: `${mkdtempSync(`${dir}/sqlite-`)}/broker.sqlite`,
  });
  return {
    store: store as BrokerStore,
    label: "SQLite",
    // In this process: its CPU is the broker's.
    serverCpuMs: (): number | undefined => undefined,
    close: () => store.close(),
  };
}

async function dropBenchTables(pool: import("pg").Pool): Promise<void> {
  const { rows } = await pool.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
    [`${PG_PREFIX}%`],
  );
  for (const { tablename } of rows) await pool.query(`DROP TABLE IF EXISTS "${tablename}"`);
}

type OpenedStore = Awaited<ReturnType<typeof openStore>>;

interface StoreBenchContext {
  options: BrokerOptions;
  idp: DevIdpProcess;
  /** Time spent in the IdP's refresh calls since it was last set to 0. */
  idpTime: { ms: number };
}

export async function runBrokerBench(options: BrokerOptions): Promise<BrokerRow[]> {
  const { log } = options;
  const rows: BrokerRow[] = [];
  const idp = await startIdpProcess();
  const dir = mkdtempSync(`${tmpdir()}/ts-oidc-auth-bench-`);
  // Time spent in the IdP's refresh call, measured around the core's own call.
  const idpTime = { ms: 0 };
  const original = IdentityProvider.prototype.refresh;
  IdentityProvider.prototype.refresh = async function (this: IdentityProvider, token: string) {
    const t0 = performance.now();
    try {
      return await original.call(this, token);
    } finally {
      idpTime.ms += performance.now() - t0;
    }
  };
  try {
    for (const kind of ["postgres", "sqlite", "redis"] as const) {
      // RS256 (the default, and py-oidc-auth's) with an IdP behind; EdDSA keys show the signature's share.
      for (const alg of ["RS256", "EdDSA"] as const) {
        let opened: OpenedStore;
        try {
          opened = await openStore(kind, options.postgresUrl, dir);
          await opened.store.init();
        } catch (error) {
          log(`  ${kind}: unavailable (${(error as Error).message}); skipped`);
          continue;
        }
        try {
          rows.push(...(await storeRows(opened, alg, { options, idp, idpTime })));
        } finally {
          await opened.close();
        }
      }
    }
  } finally {
    IdentityProvider.prototype.refresh = original;
    await idp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The rows of one store with one broker signing algorithm. */
async function storeRows(
  opened: OpenedStore,
  alg: "RS256" | "EdDSA",
  context: StoreBenchContext,
): Promise<BrokerRow[]> {
  const { options, idp, idpTime } = context;
  const { log, clients, seconds } = options;
  const rows: BrokerRow[] = [];
  const settings: OIDCAuthOptions = {
    clientId: "demo-app",
    clientSecret: "demo-app-secret",
    discoveryUrl: idp.discoveryUrl,
    audience: "ts-oidc-auth-test-api",
    scopes: "myscope profile email",
    allowedRedirectUris: [CALLBACK],
    secret: "bench-secret-0123456789abcdef-0123456789abcdef",
    brokerMode: true,
    brokerStore: opened.store,
    brokerSigningAlg: alg,
    proxy: "https://app.example.org",
    logger: quiet,
  };
  const { auth, broker } = brokerAuth(settings);
  const routes = new Map(auth.routes().map((route) => [route.name, route]));
  const tokenRoute = routes.get("token");
  if (tokenRoute === undefined) throw new Error("no token route");
  const refresh = async (refreshToken: string) => {
    const reply = await tokenRoute.handle(
      request("POST", {}, { grant_type: "refresh_token", refresh_token: refreshToken }),
    );
    if (reply.status !== 200) throw new Error(`refresh: ${JSON.stringify(reply.body)}`);
    return String((reply.body as Record<string, unknown>).refresh_token);
  };

  // Sessions with an IdP refresh token: one real login per client (RS256 runs only).
  const withIdp: string[] = [];
  for (let i = 0; i < (alg === "RS256" ? clients : 0); i++) {
    const login = await routes.get("login")?.handle(request("GET", { redirect_uri: CALLBACK }));
    const back = await new IdpUserAgent().authorize(
      String(login?.headers.location),
      "alice",
      "alice-password",
    );
    const reply = await routes.get("callback")?.handle(
      request("GET", {
        code: back.searchParams.get("code") ?? "",
        state: back.searchParams.get("state") ?? "",
      }),
    );
    withIdp.push(String((reply?.body as Record<string, unknown> | undefined)?.refresh_token));
  }
  // Sessions without one (an IdP that gives no refresh token): the broker and its store alone.
  const profile = { sub: "bench-user", preferred_username: "bench", roles: ["user"] };
  const brokerOnly: string[] = [];
  for (let i = 0; i < clients; i++) {
    const pair = await broker.sessions.create(
      profile,
      "openid profile",
      undefined,
      Math.floor(Date.now() / 1000) + 3600,
    );
    brokerOnly.push(String(pair.refresh_token));
  }

  if (opened.label === "PostgreSQL" && alg === "RS256") {
    // The ceiling the IdP sets: its refresh grant alone, 10 clients, no broker in between.
    const idpClient = new IdentityProvider(
      resolveOptions(settings, Object.keys(BROKER_OPTION_NAMES)),
    );
    const idpTokens: string[] = [];
    for (let i = 0; i < clients; i++) {
      const verifier = client.randomPKCECodeVerifier();
      const url = await idpClient.authorizationUrl({
        response_type: "code",
        redirect_uri: CALLBACK,
        scope: "openid offline_access profile email myscope",
        state: client.randomState(),
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
      });
      const back = await new IdpUserAgent().authorize(url, "alice", "alice-password");
      const tokens = await idpClient.exchangeCode(
        back.searchParams.get("code") ?? "",
        CALLBACK,
        verifier,
      );
      idpTokens.push(String(tokens.refresh_token));
    }
    const alone = await loadFor(seconds, clients, async (c) => {
      const tokens = await idpClient.refresh(idpTokens[c] as string);
      if (tokens.refresh_token) idpTokens[c] = tokens.refresh_token;
    });
    rows.push(loadRow("dev IdP refresh grant alone (no broker)", "—", clients, alone));
    log(`  dev IdP refresh alone: ${Math.round(alone.count / alone.elapsed)}/s`);

    // Mint and verify do not touch the store after the first key: measured once.
    const claims = {
      sub: "bench-user",
      // A user name, so no exchange asks the IdP's userinfo: the mint alone is measured.
      preferred_username: "bench",
      scope: "openid profile",
      roles: ["user"],
    } as unknown as IDToken;
    await broker.exchange(claims, "");
    const mintCpuBefore = brokerCpuMs();
    const mint = await loadFor(seconds, clients, async () => {
      await broker.exchange(claims, "");
    });
    rows.push({
      ...loadRow("mint (RS256 access token)", "—", clients, mint),
      brokerCpuMs: (brokerCpuMs() - mintCpuBefore) / mint.count,
    });
    log(`  mint: ${Math.round(mint.count / mint.elapsed)}/s`);
    const tokens: string[] = [];
    for (let i = 0; i < 1000; i++) {
      tokens.push(String((await broker.exchange({ ...claims, sub: `u${i}` }, "")).access_token));
    }
    let next = 0;
    const verify = await loadFor(seconds, clients, async () => {
      await broker.verify(tokens[next++ % tokens.length] as string);
    });
    rows.push(loadRow("verify, in full (1,000 distinct tokens)", "—", clients, verify));
    log(`  verify: ${Math.round(verify.count / verify.elapsed)}/s`);
    const guard = auth.guard();
    const headers = tokens.map((token) => `Bearer ${token}`);
    const guarded = await loadFor(seconds, clients, async () => {
      const outcome = await guard(headers[next++ % headers.length]);
      if (outcome.kind !== "token") throw new Error("guard refused a broker token");
    });
    rows.push(loadRow("guard, cached (1,000 distinct tokens)", "—", clients, guarded));
    log(`  guard: ${Math.round(guarded.count / guarded.elapsed)}/s`);
  }

  const runs: Array<[string, string[]]> = [["refresh rotation, broker and store only", brokerOnly]];
  if (alg === "RS256") runs.unshift(["refresh rotation, IdP refresh included", withIdp]);
  for (const [what, sessions] of runs) {
    const current = [...sessions];
    idpTime.ms = 0;
    const brokerBefore = brokerCpuMs();
    const storeBefore = opened.serverCpuMs();
    const result = await loadFor(seconds, clients, async (client) => {
      current[client] = await refresh(current[client] as string);
    });
    const brokerCpu = (brokerCpuMs() - brokerBefore) / result.count;
    const storeAfter = opened.serverCpuMs();
    const total = result.latencies.reduce((sum, ms) => sum + ms, 0);
    rows.push({
      ...loadRow(`${what}, ${alg} keys`, opened.label, clients, result),
      ...(sessions === withIdp ? { idpShare: idpTime.ms / total } : {}),
      // With the IdP included, the broker's CPU holds the openid-client calls too.
      brokerCpuMs: brokerCpu,
      ...(storeBefore !== undefined && storeAfter !== undefined
        ? { storeCpuMs: (storeAfter - storeBefore) / result.count }
        : {}),
    });
    log(
      `  ${opened.label} ${what}, ${alg}: ${Math.round(result.count / result.elapsed)}/s, p99 ${percentile(result.latencies, 99).toFixed(1)} ms, CPU ${brokerCpu.toFixed(2)} ms broker${storeBefore === undefined ? "" : ` + ${(((storeAfter ?? 0) - storeBefore) / result.count).toFixed(2)} ms store`}`,
    );
  }
  return rows;
}
