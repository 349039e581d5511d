/**
 * A process that uses a broker-mode auth object once and then closes it,
 * for the lifecycle test: it must exit by itself (no process.exit) once
 * `auth.close()` has run. With CLOSE=0 it skips close(), to show the test
 * can fail. Prints one line per step to stdout.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { ExpressOIDCAuth } from "../../src/adapters/express.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const auth = new ExpressOIDCAuth({
  clientId: env("CLIENT_ID"),
  clientSecret: env("CLIENT_SECRET"),
  discoveryUrl: env("DISCOVERY_URL"),
  brokerMode: true,
  brokerStoreUrl: env("STORE_URL"),
  brokerIssuer: "http://127.0.0.1/api",
  secret: env("SECRET"),
  allowedRedirectUris: ["http://127.0.0.1/cb"],
  logger: { warn() {}, error: (message) => console.error(message) },
});
await auth.ready();
const app = express();
app.use(auth.createAuthRouter());
const server = createServer(app);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;
const reply = await fetch(`http://127.0.0.1:${port}/auth/v2/.well-known/jwks.json`);
const jwks = (await reply.json()) as { keys: unknown[] };
console.log(`jwks ${reply.status} ${jwks.keys.length}`);
await new Promise<void>((resolve) => server.close(() => resolve()));
if (process.env.CLOSE !== "0") {
  await auth.close();
  console.log("closed");
}
