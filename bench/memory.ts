/**
 * Memory under many distinct tokens: 1,000,000 distinct valid tokens through
 * the core guard (in-process, no HTTP), resident memory after the first
 * 10,000 (the cache is full by then), after 100,000 (warmed up: V8 has grown
 * its heap to the size this load keeps, heapTotal, while the live heap stays
 * flat) and at the end; the growth is counted from the warmed-up sample.
 * Tokens are EdDSA (Ed25519), signed with `node:crypto` by a process of its
 * own (bench/mint-process.mjs) while this one verifies, so that minting a
 * million stays quick and its memory is not counted here; the guard verifies
 * them as any token (the key from a JWKS on loopback).
 *
 *   node --expose-gc --import tsx bench/memory.ts [count]
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { OIDCAuth } from "../src/oidc-auth.ts";

export interface MemoryResult {
  tokens: number;
  cacheSize: number;
  rssAt10kMiB: number;
  /** After 100,000 tokens: warmed up. */
  rssAt100kMiB: number;
  rssAtEndMiB: number;
  /** The largest of the samples taken every 100,000 tokens and at the end. */
  peakRssMiB: number;
  heapAt10kMiB: number;
  heapAt100kMiB: number;
  heapAtEndMiB: number;
  /** Resident memory at the end over the warmed-up sample's, less 1. */
  growth: number;
  seconds: number;
  verifiedPerSecond: number;
}

const ISSUER = "https://idp.bench.invalid";
const AUDIENCE = "bench-api";

export async function runMemoryBench(
  count: number,
  log: (line: string) => void,
): Promise<MemoryResult> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = {
    ...(publicKey as KeyObject).export({ format: "jwk" }),
    kid: "bench",
    alg: "EdDSA",
    use: "sig",
  };
  const jwksServer = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  const port = (jwksServer.address() as AddressInfo).port;
  const cacheSize = 10_000; // the default tokenCacheSize
  const auth = new OIDCAuth({
    tokenCacheSize: cacheSize,
    clientId: "bench",
    discoveryUrl: `http://127.0.0.1:${port}/.well-known/openid-configuration`,
    issuer: ISSUER,
    jwksUri: `http://127.0.0.1:${port}/jwks`,
    audience: AUDIENCE,
    secret: "bench-secret-0123456789abcdef-0123456789abcdef",
    allowedRedirectUris: ["http://127.0.0.1/cb"],
    logger: { warn() {}, error() {} },
  });
  const guard = auth.guard({ scopes: "openid" });
  const minter = spawn(
    process.execPath,
    [new URL("./mint-process.mjs", import.meta.url).pathname, String(count), ISSUER, AUDIENCE],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  minter.stdin.end(privateKey.export({ format: "pem", type: "pkcs8" }));
  const lines = createInterface({ input: minter.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = () => {
    gc?.();
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    if (process.env.BENCH_MEMORY_DEBUG) {
      log(
        `    heapTotal ${(heapTotal / 2 ** 20).toFixed(1)} external ${(external / 2 ** 20).toFixed(1)}`,
      );
    }
    return { rss: rss / 2 ** 20, heap: heapUsed / 2 ** 20 };
  };
  let done = 0;
  let end: { rss: number; heap: number } | undefined;
  let peakRss = 0;
  let at10k: { rss: number; heap: number } | undefined;
  let at100k: { rss: number; heap: number } | undefined;
  const start = performance.now();
  const check = async (batch: string[]) => {
    const outcomes = await Promise.all(batch.map((token) => guard(`Bearer ${token}`)));
    for (const outcome of outcomes) {
      if (outcome.kind !== "token") throw new Error("a valid token was refused");
    }
    done += batch.length;
    if (at10k === undefined && done >= 10_000) {
      at10k = sample();
      log(`  after ${done.toLocaleString("en-US")} tokens: rss ${at10k.rss.toFixed(1)} MiB`);
    } else if (done % 100_000 === 0) {
      const now = sample();
      at100k ??= now;
      peakRss = Math.max(peakRss, now.rss);
      log(`  after ${done.toLocaleString("en-US")} tokens: rss ${now.rss.toFixed(1)} MiB`);
    }
  };
  try {
    // 16 in flight: verification runs partly on libuv's thread pool.
    let batch: string[] = [];
    for await (const line of lines) {
      batch.push(line);
      if (batch.length === 16) {
        await check(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await check(batch);
    end = sample();
  } finally {
    minter.kill();
    jwksServer.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const last = end ?? sample();
  const first = at10k ?? last;
  const warm = at100k ?? first;
  return {
    tokens: done,
    cacheSize,
    rssAt10kMiB: first.rss,
    rssAt100kMiB: warm.rss,
    rssAtEndMiB: last.rss,
    peakRssMiB: Math.max(peakRss, last.rss),
    heapAt10kMiB: first.heap,
    heapAt100kMiB: warm.heap,
    heapAtEndMiB: last.heap,
    growth: last.rss / warm.rss - 1,
    seconds,
    verifiedPerSecond: done / seconds,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runMemoryBench(Number(process.argv[2] ?? 1_000_000), console.log);
  console.log(process.argv.includes("--json") ? JSON.stringify(result) : result);
}
