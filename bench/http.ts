/**
 * HTTP benchmark: for each framework, `GET /hello` bare, behind our guard
 * (cache on, and off to show one verification), behind the framework's best
 * peer guard and behind a hand-rolled jose guard. Each variant is its own
 * server process pinned to core 0; autocannon runs in another process pinned
 * to core 1 (10 connections). Variants are measured in turn (A B C A B C …)
 * for several rounds; the medians are reported.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { SignJWT } from "jose";
import { startDevIdp } from "../dev-idp/index.ts";
import {
  BENCH_DIR,
  type Framework,
  median,
  NODE_TS,
  PEERS,
  pinned,
  run,
  type ServerConfig,
  type Variant,
} from "./common.ts";

export type Mix = "repeated" | "distinct";

export interface HttpRow {
  framework: Framework;
  mix: Mix;
  variant: Variant;
  label: string;
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU per request above the bare route's, in µs (the server core is saturated). */
  authMicros: number | undefined;
  ratioToBare: number;
  ratioToJose: number;
  /** Every request of every round answered 2xx. */
  allOk: boolean;
}

export interface HttpOptions {
  frameworks: readonly Framework[];
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  distinctTokens: number;
  /** Only these variants (default: all). */
  variants?: readonly Variant[];
  log: (line: string) => void;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

async function startServer(
  framework: Framework,
  variant: Variant,
  config: ServerConfig,
): Promise<RunningServer> {
  const [file, ...args] = pinned(0, [
    ...NODE_TS,
    `${BENCH_DIR}server.ts`,
    framework,
    variant,
    JSON.stringify(config),
  ]) as [string, ...string[]];
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`${framework}/${variant} server exited (${code})`)),
    );
    lines.on("line", (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
  return {
    port,
    async stop() {
      child.stdin.end();
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

function labelOf(framework: Framework, variant: Variant): string {
  switch (variant) {
    case "bare":
      return "bare";
    case "noop":
      return "empty async middleware";
    case "ours":
      return "ts-oidc-auth";
    case "ours-nocache":
      return "ts-oidc-auth, cache off";
    case "peer":
      return PEERS[framework] ?? "peer";
    case "jose":
      return "hand-rolled jose";
  }
}

export async function runHttpBench(options: HttpOptions): Promise<HttpRow[]> {
  const { log } = options;
  const idp = await startDevIdp();
  const rows: HttpRow[] = [];
  try {
    const config: ServerConfig = {
      issuer: idp.issuer,
      discoveryUrl: idp.discoveryUrl,
      jwksUri: `${idp.issuer}/jwks`,
      audience: idp.audience,
      clientId: idp.confidentialClient.clientId,
    };
    const { kid, privateKey } = idp.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const mint = (i: number) =>
      new SignJWT({
        scope: "openid profile email myscope",
        realm_access: { roles: ["user"] },
        preferred_username: `user${i}`,
      })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(idp.issuer)
        .setAudience(idp.audience)
        .setSubject(`user-${i}`)
        .setIssuedAt(now)
        .setExpirationTime(now + 6 * 3600)
        .setJti(`bench-${i}`)
        .sign(privateKey);
    const distinct = await Promise.all(
      Array.from({ length: options.distinctTokens }, (_, i) => mint(i)),
    );
    const tokens: Record<Mix, string[]> = { repeated: [distinct[0] as string], distinct };
    for (const framework of options.frameworks) {
      const variants = (["bare", "noop", "ours", "ours-nocache", "peer", "jose"] as const).filter(
        (v) =>
          (v !== "peer" || PEERS[framework] !== undefined) &&
          (options.variants === undefined || v === "bare" || options.variants.includes(v)),
      );
      const servers = new Map<Variant, RunningServer>();
      try {
        for (const variant of variants) {
          servers.set(variant, await startServer(framework, variant, config));
        }
        for (const mix of ["repeated", "distinct"] as const) {
          // Without the cache every token is verified, so it only shows in the distinct mix; the
          // empty middleware ignores tokens, so it only shows in the repeated one.
          const measured = variants.filter((v) =>
            mix === "distinct" ? v !== "noop" : v !== "ours-nocache",
          );
          const samples = new Map<Variant, Sample[]>(measured.map((v) => [v, []]));
          for (let round = 1; round <= options.rounds; round++) {
            for (const variant of measured) {
              const server = servers.get(variant) as RunningServer;
              const output = await run(
                pinned(1, [...NODE_TS, `${BENCH_DIR}load.ts`]),
                JSON.stringify({
                  url: `http://127.0.0.1:${server.port}`,
                  tokens: tokens[mix],
                  seconds: options.seconds,
                  warmupSeconds: options.warmupSeconds,
                  connections: options.connections,
                }),
              );
              const sample = JSON.parse(output) as Sample;
              samples.get(variant)?.push(sample);
              log(
                `  ${framework} ${mix} round ${round} ${variant}: ${Math.round(sample.rps)} req/s` +
                  (sample.non2xx + sample.errors > 0
                    ? ` (${sample.non2xx} non-2xx, ${sample.errors} errors)`
                    : ""),
              );
            }
          }
          const summary = (variant: Variant) => {
            const list = samples.get(variant) ?? [];
            return {
              rps: median(list.map((s) => s.rps)),
              p50: median(list.map((s) => s.p50)),
              p99: median(list.map((s) => s.p99)),
              allOk: list.every((s) => s.non2xx === 0 && s.errors === 0),
            };
          };
          const bare = summary("bare");
          const jose = variants.includes("jose") ? summary("jose") : { rps: Number.NaN };
          for (const variant of measured) {
            const s = summary(variant);
            rows.push({
              framework,
              mix,
              variant,
              label: labelOf(framework, variant),
              ...s,
              authMicros: variant === "bare" ? undefined : 1e6 / s.rps - 1e6 / bare.rps,
              ratioToBare: s.rps / bare.rps,
              ratioToJose: s.rps / jose.rps,
            });
          }
        }
      } finally {
        await Promise.all([...servers.values()].map((server) => server.stop()));
      }
    }
  } finally {
    await idp.stop();
  }
  return rows;
}
