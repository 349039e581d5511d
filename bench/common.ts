/** What the benchmark scripts share: the matrix, statistics, formatting. */
import { spawn, spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

export interface ServerConfig {
  issuer: string;
  discoveryUrl: string;
  jwksUri: string;
  audience: string;
  clientId: string;
}

export const FRAMEWORKS = ["express", "fastify", "hono", "koa"] as const;
export type Framework = (typeof FRAMEWORKS)[number];
/**
 * `noop`: an empty async middleware, the framework's own cost of any guard;
 * `ours-nocache`: our guard with `tokenCacheSize: 0`, to show what one verification costs.
 */
export const VARIANTS = ["bare", "noop", "ours", "ours-nocache", "peer", "jose"] as const;
export type Variant = (typeof VARIANTS)[number];

/** The best peer guard of each framework; undefined where there is none besides jose. */
export const PEERS: Record<Framework, string | undefined> = {
  express: "express-oauth2-jwt-bearer",
  fastify: "@fastify/jwt (fixed key)",
  hono: "hono/jwk (keys fetched once)",
  koa: undefined,
};

export const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The p-th percentile (0..100) of some values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      })
    : "—";

let canPin: boolean | undefined;

/**
 * `taskset -c <core>` in front of a command, where taskset works and the
 * machine has two cores; else the command as it is (with a warning once).
 * BENCH_NO_PIN=1 switches pinning off.
 */
export function pinned(core: number, command: string[]): string[] {
  if (canPin === undefined) {
    canPin =
      !process.env.BENCH_NO_PIN &&
      cpus().length >= 2 &&
      spawnSync("taskset", ["-c", "1", "true"]).status === 0;
    if (!canPin)
      process.stderr.write("bench: not pinning processes to cores (no taskset or one core)\n");
  }
  return canPin ? ["taskset", "-c", String(core), ...command] : command;
}

/** Runs a command to its end; resolves with its stdout. */
export function run(command: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = command as [string, ...string[]];
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command.join(" ")} exited with ${code}`)),
    );
    child.stdin.end(input ?? "");
  });
}

export const NODE_TS = [process.execPath, "--import", "tsx"];
