/**
 * `npm start`: the dev IdP and the demo app, until Ctrl-C.
 *
 *   npm start -- [--port 8000] [--idp-port 9400] [--store-url URL] [--device-interval 5]
 *                [--idp-access-token-ttl 300]
 *
 * Also from the environment: PORT, IDP_PORT, DEMO_STORE_URL. Without a store
 * URL the broker uses the library's default: a SQLite file in the user's
 * data directory (XDG_DATA_HOME, else ~/.local/share, on Linux).
 */
import { parseArgs } from "node:util";
import { type Demo, startDemo } from "./app.ts";

function port(name: string, value: string | undefined, fallback: number): number {
  const number = Number(value ?? fallback);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    throw new Error(
      `--${name} must be a port number (0 for any free port), got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

function banner(demo: Demo): string {
  const users = demo.idp.users.map(
    (user) =>
      `    ${user.username.padEnd(6)} password ${user.password.padEnd(15)} roles ${user.roles.join(", ")}`,
  );
  return [
    "ts-oidc-auth demo",
    `  identity provider (dev IdP): ${demo.idp.issuer}`,
    "  demo users:",
    ...users,
    `  app in broker mode, store:   ${demo.store}`,
    `  command-line client:         npx tsx src/client/cli.ts login ${demo.apiBase}`,
    "",
    `Open ${demo.url} in your browser (the token page), or ${demo.url}ssr/ (server-rendered, browser sessions).`,
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "idp-port": { type: "string" },
      "store-url": { type: "string" },
      "device-interval": { type: "string" },
      "idp-access-token-ttl": { type: "string" },
    },
  });
  const demo = await startDemo({
    port: port("port", values.port ?? process.env.PORT, 8000),
    idpPort: port("idp-port", values["idp-port"] ?? process.env.IDP_PORT, 9400),
    storeUrl: values["store-url"] ?? (process.env.DEMO_STORE_URL || undefined),
    deviceIntervalSeconds: Number(values["device-interval"] ?? 5) || 5,
    idpAccessTokenSeconds: Number(values["idp-access-token-ttl"] ?? 300) || 300,
  });
  process.stdout.write(banner(demo));
  let stopping = false;
  const stop = (): void => {
    // A second Ctrl-C while closing gives up waiting.
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write("Stopping…\n");
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /EADDRINUSE/.test(message) ? " (choose other ports with --port and --idp-port)" : "";
  process.stderr.write(`demo: ${message}${hint}\n`);
  process.exit(1);
});
