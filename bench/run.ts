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
import { chart } from "./chart.ts";
import { BENCH_DIR, FRAMEWORKS, type Framework, fmt, NODE_TS, run } from "./common.ts";
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
  let http: HttpRow[] = [];
  let broker: BrokerRow[] = [];
  let memory: MemoryResult | undefined;
  const profiles: Run["profiles"] = [];
  if (parts.http) {
    log(`HTTP: ${frameworks.join(", ")}; ${rounds} rounds of ${seconds} s (+${warmup} s warm-up)`);
    http = await runHttpBench({
      frameworks,
      rounds,
      seconds,
      warmupSeconds: warmup,
      connections: 10,
      distinctTokens: 1000,
      log,
    });
    if (!flag("no-profile")) {
      for (const framework of frameworks) {
        const ours = http.find(
          (r) => r.framework === framework && r.mix === "repeated" && r.variant === "ours",
        );
        if (ours !== undefined && ours.ratioToBare < 0.9) {
          log(`profiling ${framework} (repeated token, below 0.9× bare)`);
          profiles.push({
            framework,
            mix: "repeated",
            lines: await profileServer(framework, "ours", "repeated", Math.max(3, seconds)),
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
    broker,
    memory,
    profiles,
  };
  writeFileSync(`${BENCH_DIR}results.json`, `${JSON.stringify(measured, null, 2)}\n`);
  return measured;
}

function report(run: Run): string {
  const { http, broker, memory, profiles, rounds, seconds, warmup } = run;
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
  }
  if (broker.length > 0) {
    out.push(
      "## Broker",
      "",
      "In-process (the core's token endpoint and broker called directly, no HTTP), 10 concurrent clients, each running its operation back to back. Refresh: each client rotates its own session's refresh token; with *IdP refresh included*, every rotation also refreshes at the dev IdP (oidc-provider in its own process on core 1, as a real IdP would be), and *IdP share* is the part of the rotation time spent waiting for it. The stores are PostgreSQL on 127.0.0.1:5432 (tables `oidc_bench_*`, dropped afterwards) and a SQLite file.",
      "",
      "| operation | store | clients | per second | p50 ms | p99 ms | IdP share |",
      "|---|---|---:|---:|---:|---:|---:|",
    );
    for (const row of broker) {
      out.push(
        `| ${row.what} | ${row.store} | ${row.clients} | ${fmt(row.perSecond)} | ${row.p50Ms === undefined ? "—" : fmt(row.p50Ms, 2)} | ${row.p99Ms === undefined ? "—" : fmt(row.p99Ms, 2)} | ${row.idpShare === undefined ? "—" : `${fmt(100 * row.idpShare)} %`} |`,
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
      `| 10,000 tokens | ${fmt(memory.rssAt10kMiB, 1)} MiB | ${fmt(memory.heapAt10kMiB, 1)} MiB |`,
      `| ${memory.tokens.toLocaleString("en-US")} tokens | ${fmt(memory.rssAtEndMiB, 1)} MiB | ${fmt(memory.heapAtEndMiB, 1)} MiB |`,
      "",
      `Growth of the resident memory: ${(100 * memory.growth).toFixed(1)} % (largest sample on the way: ${fmt(memory.peakRssMiB, 1)} MiB); ${fmt(memory.verifiedPerSecond)} tokens verified per second.`,
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
