/**
 * Runs the dev IdP on its own: `tsx dev-idp/cli.ts [--port 9400] [--no-end-session]
 * [--access-token-ttl 300]`. Prints everything a demo needs to be configured with.
 */
import { parseArgs } from "node:util";
import { startDevIdp } from "./index.ts";

function integerOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "no-end-session": { type: "boolean", default: false },
      "access-token-ttl": { type: "string" },
    },
  });
  const idp = await startDevIdp({
    port: integerOption("port", values.port, 9400),
    endSession: !values["no-end-session"],
    accessTokenTtlSeconds: integerOption("access-token-ttl", values["access-token-ttl"], 300),
  });

  const lines = [
    "ts-oidc-auth dev IdP (oidc-provider) is running",
    `  issuer:         ${idp.issuer}`,
    `  discovery URL:  ${idp.discoveryUrl}`,
    `  audience:       ${idp.audience}`,
    `  confidential:   client_id=${idp.confidentialClient.clientId} client_secret=${idp.confidentialClient.clientSecret}`,
    `  public:         client_id=${idp.publicClient.clientId}`,
    "  redirect URIs:  any http://127.0.0.1|localhost|[::1]:<port>/<path>",
    "  users:",
    ...idp.users.map(
      (user) =>
        `    ${user.username} / ${user.password}  roles=${user.roles.join(",")} groups=${user.groups.join(",") || "-"}`,
    ),
    "Press Ctrl+C to stop.",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  const shutdown = (): void => {
    idp.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`dev-idp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
