#!/usr/bin/env node
/**
 * The `ts-oidc-auth` command: `login`, `token`, `logout` against an app with
 * the py-oidc-auth endpoints. Messages go to stderr; only the token (or its
 * header) goes to stdout, so `$(ts-oidc-auth token)` captures just that.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
// The nearest-name rule of the server's options (a leaf of the core: it imports no package).
import { closestName } from "../core/options.ts";
import { authenticate, logout, TOKEN_ENV_VAR } from "./authenticate.ts";
import { AuthClientError } from "./errors.ts";
import { defaultTokenStorePath, TokenStore } from "./store.ts";

const USAGE = `Usage: ts-oidc-auth <command> [host] [options]

Commands:
  login    log in and store the token (the browser on a desktop, else the device flow)
  token    print a valid access token: the stored one, refreshed when needed,
           or after a login when this is an interactive terminal
  logout   end the session at the app and forget the stored token

host: the app's base URL with its auth prefix, e.g. https://app.example.org/api
      (or set TS_OIDC_AUTH_HOST)

Options:
  --header           token: print "Authorization: Bearer <token>"
  --device           login: use the device flow
  --browser          login: use the browser (a local callback on port 53100-53105)
  --force            login: log in again even when a valid token is stored
  --timeout SECONDS  how long to wait for the login (default 300)
  --store PATH       the token store (default ${defaultTokenStorePath()};
                     or set TS_OIDC_AUTH_STORE)
  -h, --help         this help
  -V, --version      the version of ts-oidc-auth

In scripts and CI, where no login can start, set ${TOKEN_ENV_VAR} to an access
token, or run "ts-oidc-auth login" once in an interactive terminal before.`;

const OPTIONS = {
  header: { type: "boolean" },
  device: { type: "boolean" },
  browser: { type: "boolean" },
  force: { type: "boolean" },
  timeout: { type: "string" },
  store: { type: "string" },
  host: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

const COMMANDS = ["login", "token", "logout"] as const;
const HINT = 'Run "ts-oidc-auth --help" for the usage.';

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>["values"];

class UsageError extends Error {}

interface Command {
  name: "login" | "token" | "logout";
  host: string;
  values: Values;
  store: TokenStore;
}

function parseCommand(argv: string[]): Command | "help" | "version" {
  const { values, positionals } = parseOptions(argv);
  if (values.help) return "help";
  if (values.version) return "version";
  const [name, positionalHost, ...rest] = positionals;
  if (name !== "login" && name !== "token" && name !== "logout") {
    throw new UsageError(
      name === undefined
        ? "A command is required: login, token or logout."
        : `Unknown command "${name}"${didYouMean(name, COMMANDS)}.`,
    );
  }
  if (rest.length > 0) throw new UsageError(`Unexpected arguments: ${rest.join(" ")}.`);
  const host = values.host ?? positionalHost ?? process.env.TS_OIDC_AUTH_HOST;
  if (!host)
    throw new UsageError("The app's URL is required (argument, --host or TS_OIDC_AUTH_HOST).");
  if (values.device && values.browser)
    throw new UsageError("Choose one of --device and --browser.");
  const storePath = values.store ?? process.env.TS_OIDC_AUTH_STORE;
  return { name, host, values, store: new TokenStore(storePath || undefined) };
}

/** parseArgs, with its errors said in one line of our own (its own text suggests `--`). */
function parseOptions(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : "";
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const nearest = closestName(option.replace(/^-+/, ""), Object.keys(OPTIONS));
      const hint = nearest === undefined ? "" : ` (did you mean --${nearest}?)`;
      throw new UsageError(`Unknown option ${option}${hint}.`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw new UsageError(
        /argument missing/.test(message) ? `${option} needs a value.` : `${option} takes no value.`,
      );
    }
    throw error;
  }
}

function didYouMean(name: string, known: readonly string[]): string {
  const nearest = closestName(name, known);
  return nearest === undefined ? "" : ` (did you mean ${nearest}?)`;
}

/** package.json sits two folders up from both src/client/cli.ts and dist/client/cli.js. */
function version(): string {
  const manifest: unknown = JSON.parse(
    readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
  );
  const value =
    typeof manifest === "object" && manifest !== null
      ? Reflect.get(manifest, "version")
      : undefined;
  return typeof value === "string" ? value : "unknown";
}

function timeoutMs(values: Values): number | undefined {
  if (values.timeout === undefined) return undefined;
  const seconds = Number(values.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError("--timeout must be a positive number of seconds.");
  return seconds * 1000;
}

async function run(command: Command, signal: AbortSignal): Promise<void> {
  const { host, values, store } = command;
  const common = { host, store, signal, loginTimeoutMs: timeoutMs(values) };
  if (command.name === "logout") {
    const had = await logout({ host, store });
    process.stderr.write(had ? `Logged out of ${host}.\n` : `No token was stored for ${host}.\n`);
    return;
  }
  if (command.name === "login") {
    const flow = values.device ? "device" : values.browser ? "browser" : "auto";
    // `login` is asked for by a person, so it may start a login even without a terminal.
    await authenticate({ ...common, flow, force: values.force, interactive: true });
    process.stderr.write(`Logged in to ${host}; the token is stored in ${store.path}.\n`);
    return;
  }
  const token = await authenticate(common);
  process.stdout.write(
    `${values.header ? `Authorization: ${token.headers.Authorization}` : token.access_token}\n`,
  );
}

async function main(): Promise<number> {
  let command: Command | "help" | "version";
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`ts-oidc-auth: ${error.message}\n${HINT}\n`);
    return 2;
  }
  if (command === "help" || command === "version") {
    process.stdout.write(`${command === "help" ? USAGE : `ts-oidc-auth ${version()}`}\n`);
    return 0;
  }
  const cancel = new AbortController();
  process.once("SIGINT", () => cancel.abort());
  try {
    await run(command, cancel.signal);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`ts-oidc-auth: ${error.message}\n${HINT}\n`);
      return 2;
    }
    const message =
      error instanceof AuthClientError || error instanceof TypeError
        ? error.message
        : String(error);
    process.stderr.write(`ts-oidc-auth: ${message}\n`);
    return cancel.signal.aborted ? 130 : 1;
  }
}

process.exitCode = await main();
