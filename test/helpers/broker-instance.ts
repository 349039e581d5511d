/**
 * One broker-mode app instance in its own process, for the multi-process
 * test. Configured by environment variables; prints `{"url": ...}` once
 * listening and runs until SIGTERM.
 */
import { startBrokerApp } from "./broker-app.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const app = await startBrokerApp(() => ({
  clientId: env("CLIENT_ID"),
  clientSecret: env("CLIENT_SECRET"),
  discoveryUrl: env("DISCOVERY_URL"),
  audience: env("AUDIENCE"),
  scopes: "myscope profile email",
  brokerStoreUrl: env("STORE_URL"),
  brokerIssuer: env("BROKER_ISSUER"),
  brokerAudience: "myapp-api",
  refreshGraceSeconds: Number(env("GRACE_SECONDS")),
  secret: env("SECRET"),
  allowedRedirectUris: ["http://127.0.0.1/cb"],
  ...(process.env.TIMEOUT_MS ? { timeoutMs: Number(process.env.TIMEOUT_MS) } : {}),
  ...(process.env.STORE_TIMEOUT_MS
    ? { brokerStoreTimeoutMs: Number(process.env.STORE_TIMEOUT_MS) }
    : {}),
  // VERBOSE: every level on stderr, so a test can read what the library reported.
  logger: process.env.VERBOSE
    ? {
        info: (message) => console.error(`info: ${message}`),
        warn: (message) => console.error(`warn: ${message}`),
        error: (message) => console.error(`error: ${message}`),
      }
    : { warn() {}, error: (message) => console.error(message) },
}));
console.log(JSON.stringify({ url: app.url }));
process.once("SIGTERM", () => {
  app.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`close failed: ${String(error)}`);
      process.exit(1);
    },
  );
});
