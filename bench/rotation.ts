/**
 * Broker refresh rotations alone, for profiling one store: `node --import
 * tsx [--cpu-prof] bench/rotation.ts [postgres|sqlite|redis] [seconds]
 * [clients] [RS256|ES256|EdDSA]` (the broker's signing algorithm). Sessions carry no IdP refresh token, so a rotation is the
 * broker and its store only (the "broker and store only" rows of
 * `npm run bench -- --broker`); the dev IdP runs in its own process and
 * only answers discovery.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { OIDCAuthOptions } from "../src/oidc-auth.ts";
import { brokerAuth, loadFor, openStore, request, startIdpProcess } from "./broker.ts";
import { median, percentile } from "./common.ts";

const [kind = "postgres", seconds = "10", clients = "10", alg = "RS256"] = process.argv.slice(2);
if (kind !== "postgres" && kind !== "sqlite" && kind !== "redis") {
  throw new Error(`unknown store ${kind}`);
}
if (alg !== "RS256" && alg !== "ES256" && alg !== "EdDSA") throw new Error(`unknown alg ${alg}`);
const postgresUrl =
  process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const idp = await startIdpProcess();
const dir = mkdtempSync(`${tmpdir()}/ts-oidc-auth-rotation-`);
const opened = await openStore(kind, postgresUrl, dir);
try {
  await opened.store.init();
  const settings: OIDCAuthOptions = {
    clientId: "demo-app",
    clientSecret: "demo-app-secret",
    discoveryUrl: idp.discoveryUrl,
    secret: "bench-secret-0123456789abcdef-0123456789abcdef",
    brokerMode: true,
    brokerStore: opened.store,
    brokerSigningAlg: alg,
    logger: { warn() {}, error() {} },
  };
  const { auth, broker } = brokerAuth(settings);
  const tokenRoute = auth.routes().find((route) => route.name === "token");
  if (tokenRoute === undefined) throw new Error("no token route");
  const profile = { sub: "bench-user", preferred_username: "bench", roles: ["user"] };
  const current: string[] = [];
  for (let i = 0; i < Number(clients); i++) {
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const pair = await broker.sessions.create(profile, "openid profile", undefined, expiresAt);
    current.push(String(pair.refresh_token));
  }
  const result = await loadFor(Number(seconds), Number(clients), async (client) => {
    const reply = await tokenRoute.handle(
      request("POST", {}, { grant_type: "refresh_token", refresh_token: current[client] ?? "" }),
    );
    if (reply.status !== 200) throw new Error(`refresh: ${JSON.stringify(reply.body)}`);
    current[client] = String((reply.body as Record<string, unknown>).refresh_token);
  });
  const perSecond = Math.round(result.count / result.elapsed);
  const p50 = median(result.latencies).toFixed(2);
  const p99 = percentile(result.latencies, 99).toFixed(2);
  console.log(`${opened.label}, ${alg}: ${perSecond} rotations/s, p50 ${p50} ms, p99 ${p99} ms`);
} finally {
  await opened.close();
  await idp.stop();
  rmSync(dir, { recursive: true, force: true });
}
