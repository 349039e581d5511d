/**
 * What instant revocation (docs/broker.md "Instant revocation") costs a guard call,
 * in process, no HTTP: broker tokens of 1,000 sessions in turn (all in the
 * token cache), with brokerInstantRevocation off, on (the default 5 s
 * recheck), and on with a recheck on every call (the worst case: one store
 * read per request). The store is SQLite in a temporary folder.
 *
 *   taskset -c 0 node --import tsx bench/instant-revocation.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevIdp } from "../dev-idp/index.ts";
import { Broker } from "../src/broker/broker.ts";
import { resolveBrokerOptions } from "../src/broker/options.ts";
import { BasePath } from "../src/core/base-path.ts";
import type { AuthError } from "../src/core/errors.ts";
import { BearerCheck, createGuard } from "../src/core/guard.ts";
import { IdentityProvider } from "../src/core/idp.ts";
import { resolveOptions } from "../src/core/options.ts";

const SESSIONS = 1000;
const idp = await startDevIdp();
const folder = mkdtempSync(join(tmpdir(), "ts-oidc-auth-bench-deny-"));

/** A broker guard over its own store file, with the revocation settings given. */
async function brokerGuard(name: string, revocation: Record<string, unknown>) {
  const all = {
    clientId: "demo-app",
    clientSecret: "demo-app-secret",
    discoveryUrl: idp.discoveryUrl,
    proxy: "https://app.example.org",
    logger: { warn() {}, error() {} },
    brokerMode: true,
    brokerStoreUrl: `sqlite:///${join(folder, `${name}.sqlite`)}`,
    ...revocation,
  };
  const options = resolveOptions(all, Object.keys(all));
  const broker = new Broker(resolveBrokerOptions(all), {
    options,
    idp: new IdentityProvider(options),
    secrets: [new TextEncoder().encode("bench-secret-0123456789abcdef0123456789")],
    secretsFrom: "secret",
    basePath: new BasePath(options.proxy),
  });
  const bearer = new BearerCheck((token) => broker.verify(token), options, {
    ...(broker.sessionRevoked === undefined ? {} : { sessionRevoked: broker.sessionRevoked }),
  });
  const guard = createGuard(
    bearer,
    {},
    options,
    false,
    (error) => error as AuthError,
    () => undefined,
  );
  const now = Math.floor(Date.now() / 1000);
  const headers: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const pair = await broker.sessions.create(
      { sub: `u${i}`, roles: [] },
      "openid",
      undefined,
      now + 3600,
    );
    headers.push(`Bearer ${pair.access_token}`);
  }
  return { guard, headers };
}

async function time(name: string, run: Awaited<ReturnType<typeof brokerGuard>>, calls: number) {
  const { guard, headers } = run;
  for (let i = 0; i < 5000; i++) await guard(headers[i % SESSIONS]);
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const outcome = await guard(headers[i % SESSIONS]);
    if (outcome.kind !== "token") throw new Error(`${name}: refused`);
  }
  const micros = ((performance.now() - started) * 1000) / calls;
  console.log(
    `${name.padEnd(34)} ${micros.toFixed(2)} µs/call  ${(1e6 / micros).toFixed(0)} calls/s`,
  );
}

const off = await brokerGuard("off", {});
const on = await brokerGuard("on", { brokerInstantRevocation: true });
const everyCall = await brokerGuard("every-call", {
  brokerInstantRevocation: true,
  brokerRevocationCheckSeconds: 0.000001,
});
for (let round = 0; round < 3; round++) {
  await time("off", off, 500_000);
  await time("on (recheck every 5 s)", on, 500_000);
  await time("on (recheck every call: worst case)", everyCall, 50_000);
}
await idp.stop();
rmSync(folder, { recursive: true, force: true });
