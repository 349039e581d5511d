/**
 * `npm run bench`: the HTTP benchmark of every adapter, the broker
 * benchmark and the memory benchmark; writes bench/RESULTS.md,
 * bench/results.svg and bench/results.json.
 *
 *   npm run bench -- [--http] [--broker] [--memory]   parts (default: all)
 *                    [--frameworks=express,fastify,hono,koa] [--rounds=3]
 *                    [--seconds=3] [--warmup=1] [--tokens=1000000]
 *                    [--quick]                        1 round of 1 s, 100,000 tokens
 *                    [--no-profile]                   skip the CPU profiles of missed targets
 *                    [--report]                       only rewrite RESULTS.md and the chart from
 *                                                     results.json (after editing NOTES.md)
 *
 * Everything listens on 127.0.0.1 only and stops by itself.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { type BrokerRow, runBrokerBench } from "./broker.ts";
import { CEILING_ALGS, type CeilingRow } from "./ceiling.ts";
import { chart } from "./chart.ts";
import {
  BENCH_DIR,
  FRAMEWORKS,
  type Framework,
  fmt,
  median,
  NODE_TS,
  pinned,
  run,
} from "./common.ts";
import { type HttpRow, runHttpBench } from "./http.ts";
import type { MemoryResult } from "./memory.ts";
import { profileServer } from "./profile.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string) =>
  args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = flag("quick");
const anyPart = flag("http") || flag("broker") || flag("memory");
const parts = {
  http: !anyPart || flag("http"),
  broker: !anyPart || flag("broker"),
  memory: !anyPart || flag("memory"),
};
const frameworks = (value("frameworks")?.split(",") ?? [...FRAMEWORKS]) as Framework[];
const rounds = Number(value("rounds") ?? (quick ? 1 : 3));
const seconds = Number(value("seconds") ?? (quick ? 1 : 3));
const warmup = Number(value("warmup") ?? 1);
const memoryTokens = Number(value("tokens") ?? (quick ? 100_000 : 1_000_000));
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`;
const log = (line: string) => process.stdout.write(`${line}\n`);

interface Run {
  command: string;
  date: string;
  minutes: number;
  cores: number;
  cpu: string;
  node: string;
  rounds: number;
  seconds: number;
  warmup: number;
  http: HttpRow[];
  /** The signature's cost on the server core, medians of the runs between the frameworks. */
  ceiling: CeilingRow[];
  broker: BrokerRow[];
  memory: MemoryResult | undefined;
  profiles: Array<{ framework: Framework; mix: string; lines: string[] }>;
}

const CHART_TITLE = "ts-oidc-auth guard vs. bare route and peer guards";

const result: Run = flag("report")
  ? (JSON.parse(readFileSync(`${BENCH_DIR}results.json`, "utf8")) as Run)
  : await measure();
if (result.http.length > 0)
  writeFileSync(`${BENCH_DIR}results.svg`, chart(result.http, CHART_TITLE));
writeFileSync(`${BENCH_DIR}RESULTS.md`, report(result));
log(
  `wrote bench/RESULTS.md${flag("report") ? "" : ", bench/results.json"}${result.http.length > 0 ? ", bench/results.svg" : ""}`,
);

async function measure(): Promise<Run> {
  const started = Date.now();
  log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const http: HttpRow[] = [];
  const ceilingRuns: CeilingRow[][] = [];
  let broker: BrokerRow[] = [];
  let memory: MemoryResult | undefined;
  const profiles: Run["profiles"] = [];
  if (parts.http) {
    log(`HTTP: ${frameworks.join(", ")}; ${rounds} rounds of ${seconds} s (+${warmup} s warm-up)`);
    // The signature's own cost, measured on the server core before and between the frameworks.
    const measureCeiling = async () => {
      const output = await run(pinned(0, [...NODE_TS, `${BENCH_DIR}ceiling.ts`, String(rounds)]));
      const rows = JSON.parse(output) as CeilingRow[];
      ceilingRuns.push(rows);
      log(
        `  ceiling: ${rows.map((r) => `${r.alg} crypto.verify ${r.cryptoVerify.toFixed(1)} µs, ours ${r.ours.toFixed(1)} µs`).join("; ")}`,
      );
    };
    await measureCeiling();
    for (const framework of frameworks) {
      http.push(
        ...(await runHttpBench({
          frameworks: [framework],
          rounds,
          seconds,
          warmupSeconds: warmup,
          connections: 10,
          distinctTokens: 1000,
          log,
        })),
      );
      await measureCeiling();
    }
    if (!flag("no-profile")) {
      const rs256 = median(ceilingRuns.map((rows) => rows[0]?.cryptoVerify ?? Number.NaN));
      for (const framework of frameworks) {
        const row = (mix: string, variant: string) =>
          http.find((r) => r.framework === framework && r.mix === mix && r.variant === variant);
        const cached = row("repeated", "ours");
        if (cached !== undefined && cached.ratioToBare < 0.95) {
          log(`profiling ${framework} (repeated token, below 0.95× bare)`);
          profiles.push({
            framework,
            mix: "repeated",
            lines: await profileServer(framework, "ours", "repeated", Math.max(3, seconds)),
          });
        }
        const fresh = row("distinct", "ours-nocache");
        if (fresh?.authMicros !== undefined && fresh.authMicros > 1.3 * rs256) {
          log(`profiling ${framework} (cache off, above 1.3× crypto.verify)`);
          profiles.push({
            framework,
            mix: "distinct, cache off",
            lines: await profileServer(framework, "ours-nocache", "distinct", Math.max(3, seconds)),
          });
        }
      }
    }
  }
  if (parts.broker) {
    log("Broker");
    broker = await runBrokerBench({
      seconds: Math.max(2, seconds),
      clients: 10,
      postgresUrl:
        process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
      log,
    });
  }
  if (parts.memory) {
    log(`Memory: ${memoryTokens.toLocaleString("en-US")} distinct tokens through the guard`);
    // Its own process, with --expose-gc, so that nothing else here weighs on its memory.
    const output = await run([
      process.execPath,
      "--expose-gc",
      ...NODE_TS.slice(1),
      `${BENCH_DIR}memory.ts`,
      String(memoryTokens),
      "--json",
    ]);
    const lines = output.trim().split("\n");
    for (const line of lines.slice(0, -1)) log(line);
    memory = JSON.parse(lines.at(-1) ?? "{}") as MemoryResult;
  }
  const minutes = (Date.now() - started) / 60_000;
  log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${minutes.toFixed(1)} min`,
  );
  const measured: Run = {
    command,
    date: new Date().toISOString(),
    minutes,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown CPU",
    node: process.version,
    rounds,
    seconds,
    warmup,
    http,
    ceiling:
      ceilingRuns.length === 0
        ? []
        : CEILING_ALGS.map((alg) => {
            const runs = ceilingRuns.map((rows) => rows.find((r) => r.alg === alg) as CeilingRow);
            return {
              alg,
              cryptoVerify: median(runs.map((r) => r.cryptoVerify)),
              ours: median(runs.map((r) => r.ours)),
              jose: median(runs.map((r) => r.jose)),
            };
          }),
    broker,
    memory,
    profiles,
  };
  writeFileSync(`${BENCH_DIR}results.json`, `${JSON.stringify(measured, null, 2)}\n`);
  return measured;
}

/** The issue 15 targets as ratios of this run: first-seen tokens against the signature, cached ones against the bare route. */
function targetTables(run: Run): string[] {
  const out: string[] = [];
  const rs256 = run.ceiling.find((r) => r.alg === "RS256");
  const frameworksRun = [...new Set(run.http.map((r) => r.framework))];
  const find = (framework: Framework, mix: string, variant: string) =>
    run.http.find((r) => r.framework === framework && r.mix === mix && r.variant === variant);
  if (rs256 !== undefined) {
    out.push(
      "## A token seen for the first time, against its signature",
      "",
      `*auth µs* with the cache off (1,000 distinct RS256 tokens) over \`crypto.verify\` of the same tokens on the same core in the same run (${fmt(rs256.cryptoVerify, 1)} µs, the median of the runs before and between the frameworks; \`bench/ceiling.ts\`). Target: ≤ 1.30.`,
      "",
      "| framework | auth µs, cache off | ÷ crypto.verify | target met |",
      "|---|---:|---:|---|",
    );
    for (const framework of frameworksRun) {
      const row = find(framework, "distinct", "ours-nocache");
      if (row?.authMicros === undefined) continue;
      const ratio = row.authMicros / rs256.cryptoVerify;
      out.push(
        `| ${framework} | ${fmt(row.authMicros, 1)} | ${ratio.toFixed(2)} | ${ratio <= 1.3 ? "yes" : `**no** (+${fmt(100 * (ratio / 1.3 - 1))} %)`} |`,
      );
    }
    out.push(
      "",
      "In-process, per algorithm (no HTTP): the core's bearer check with the cache off (`verifyJwtNow`, else `verifyJwt`, from the `Authorization` value) and jose's `jwtVerify`, against `crypto.verify` alone. All three go through the fast path.",
      "",
      "| alg | crypto.verify µs | bearer check µs | ÷ crypto.verify | jose jwtVerify µs | ÷ crypto.verify |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const row of run.ceiling) {
      out.push(
        `| ${row.alg} | ${fmt(row.cryptoVerify, 1)} | ${fmt(row.ours, 1)} | ${(row.ours / row.cryptoVerify).toFixed(2)} | ${fmt(row.jose, 1)} | ${(row.jose / row.cryptoVerify).toFixed(2)} |`,
      );
    }
    out.push("");
  }
  out.push(
    "## A cached token, against the bare route",
    "",
    "Requests per second behind the guard with its cache over the bare route's. Target: ≥ 0.95.",
    "",
    "| framework | 1 repeated token | 1,000 distinct tokens | empty async middleware | target met |",
    "|---|---:|---:|---:|---|",
  );
  for (const framework of frameworksRun) {
    const repeated = find(framework, "repeated", "ours")?.ratioToBare ?? Number.NaN;
    const distinct = find(framework, "distinct", "ours")?.ratioToBare ?? Number.NaN;
    const noop = find(framework, "repeated", "noop")?.ratioToBare ?? Number.NaN;
    const worst = Math.min(repeated, distinct);
    out.push(
      `| ${framework} | ${repeated.toFixed(2)} | ${distinct.toFixed(2)} | ${noop.toFixed(2)} | ${worst >= 0.95 ? "yes" : `**no** (${(0.95 - worst).toFixed(2)} short)`} |`,
    );
  }
  out.push("");
  return out;
}

function report(run: Run): string {
  const { http, broker, memory, profiles, rounds, seconds, warmup } = run;
  run.ceiling ??= [];
  const out: string[] = [];
  out.push(
    "# Benchmark results",
    "",
    `Produced by \`${run.command}\` on ${run.date.slice(0, 10)}: ${run.cores} cores (${run.cpu}), Node.js ${run.node}; ${run.minutes.toFixed(1)} minutes. Ratios are from this one run.`,
    "",
  );
  if (http.length > 0) {
    out.push(
      "## HTTP: `GET /hello` per framework",
      "",
      `Each variant is its own server process pinned to core 0 (\`taskset -c 0\`); autocannon (10 connections) runs in another process pinned to core 1. Variants are measured in turn (A B C … A B C …), ${rounds} rounds of ${seconds} s after ${warmup} s of warm-up each; medians. Tokens are RS256, signed by the dev IdP's key; the guards fetch its JWKS over loopback. *auth µs* is the server CPU per request above the bare route's (1/rps − 1/rps_bare; the server core is saturated).`,
      "",
      "| framework | tokens | route | req/s | p50 ms | p99 ms | auth µs | × bare | × jose | all 2xx |",
      "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    );
    for (const row of http) {
      out.push(
        `| ${row.framework} | ${row.mix === "repeated" ? "1 repeated" : "1,000 distinct"} | ${row.label} | ${fmt(row.rps)} | ${fmt(row.p50, 1)} | ${fmt(row.p99, 1)} | ${row.authMicros === undefined ? "—" : fmt(row.authMicros, 1)} | ${row.ratioToBare.toFixed(2)} | ${Number.isFinite(row.ratioToJose) ? row.ratioToJose.toFixed(2) : "—"} | ${row.allOk ? "yes" : "**no**"} |`,
      );
    }
    out.push("", "![HTTP results](results.svg)", "");
    out.push(...targetTables(run));
  }
  if (broker.length > 0) {
    out.push(
      "## Broker",
      "",
      "In-process (the core's token endpoint and broker called directly, no HTTP), 10 concurrent clients, each running its operation back to back. Refresh: each client rotates its own session's refresh token; with *IdP refresh included*, every rotation also refreshes at the dev IdP (oidc-provider in its own process on core 1, as a real IdP would be), and *IdP share* is the part of the rotation time spent waiting for it. The stores are PostgreSQL on 127.0.0.1:5432 (tables `oidc_bench_*`, dropped afterwards), a SQLite file and a private `redis-server` without persistence. *CPU ms* per operation: the broker's process (`process.cpuUsage`, its Web Crypto threads included) and the store's server (its processes' times from /proc; SQLite runs inside the broker). Both share the machine's 2 cores, so 2,000 ms ÷ their sum is the most rotations per second this machine can do.",
      "",
      "| operation | store | clients | per second | p50 ms | p99 ms | IdP share | CPU ms, broker | CPU ms, store | 2-core ceiling /s |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const row of broker) {
      const cpu = (row.brokerCpuMs ?? Number.NaN) + (row.storeCpuMs ?? 0);
      out.push(
        `| ${row.what} | ${row.store} | ${row.clients} | ${fmt(row.perSecond)} | ${row.p50Ms === undefined ? "—" : fmt(row.p50Ms, 2)} | ${row.p99Ms === undefined ? "—" : fmt(row.p99Ms, 2)} | ${row.idpShare === undefined ? "—" : `${fmt(100 * row.idpShare)} %`} | ${row.brokerCpuMs === undefined ? "—" : fmt(row.brokerCpuMs, 3)} | ${row.storeCpuMs === undefined ? "—" : fmt(row.storeCpuMs, 3)} | ${Number.isFinite(cpu) && row.idpShare === undefined ? fmt(2000 / cpu) : "—"} |`,
      );
    }
    out.push("");
  }
  if (memory !== undefined) {
    out.push(
      "## Memory",
      "",
      `${memory.tokens.toLocaleString("en-US")} distinct valid tokens (EdDSA, each with its own \`jti\`, signed by a separate process and streamed in) through the core guard in one process, cache size ${memory.cacheSize.toLocaleString("en-US")}; memory after a forced GC.`,
      "",
      "| after | resident (RSS) | V8 heap used |",
      "|---|---:|---:|",
      `| 10,000 tokens (the cache full) | ${fmt(memory.rssAt10kMiB, 1)} MiB | ${fmt(memory.heapAt10kMiB, 1)} MiB |`,
      `| 100,000 tokens (warmed up) | ${fmt(memory.rssAt100kMiB, 1)} MiB | ${fmt(memory.heapAt100kMiB, 1)} MiB |`,
      `| ${memory.tokens.toLocaleString("en-US")} tokens | ${fmt(memory.rssAtEndMiB, 1)} MiB | ${fmt(memory.heapAtEndMiB, 1)} MiB |`,
      "",
      `Growth of the resident memory from the warmed-up sample to the end: ${(100 * memory.growth).toFixed(1)} % (largest sample on the way: ${fmt(memory.peakRssMiB, 1)} MiB); from the first sample: ${(100 * (memory.rssAtEndMiB / memory.rssAt10kMiB - 1)).toFixed(1)} %, V8 growing its heap to the size this load keeps (heapTotal) while the live heap stays flat. ${fmt(memory.verifiedPerSecond)} tokens verified per second.`,
      "",
    );
  }
  if (profiles.length > 0) {
    out.push("## CPU profiles of the guarded route (`node --cpu-prof`), self time", "");
    for (const profile of profiles) {
      out.push(
        `### ${profile.framework}, ${profile.mix} token`,
        "",
        "```",
        ...profile.lines,
        "```",
        "",
      );
    }
  }
  const notes = (() => {
    try {
      return readFileSync(`${BENCH_DIR}NOTES.md`, "utf8");
    } catch {
      return "";
    }
  })();
  if (notes !== "") out.push(notes);
  return `${out.join("\n")}\n`;
}
