/**
 * CPU profile of one benchmark server under load: `node --import tsx
 * bench/profile.ts <framework> <variant> [repeated|distinct] [seconds]`.
 * Starts the dev IdP, runs the server with `--cpu-prof` (pinned to core 0),
 * loads it from another process (core 1), and prints the functions with the
 * most self time.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { SignJWT } from "jose";
import { startDevIdp } from "../dev-idp/index.ts";
import { BENCH_DIR, type Framework, NODE_TS, pinned, run, type Variant } from "./common.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time per function of a `.cpuprofile`, largest first, as percentages of the busy time. */
export function summarise(file: string, top = 25): string[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)?.callFrame;
    if (frame === undefined) return;
    const name = `${frame.functionName || "(anonymous)"} ${frame.url
      .replace(/^.*node_modules\//, "")
      .replace(/^file:\/\/.*?\/(src|bench|dev-idp)\//, "$1/")}:${frame.lineNumber + 1}`;
    if (frame.functionName === "(idle)") return;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + dt);
    busy += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, time]) => `${((100 * time) / busy).toFixed(1).padStart(5)}%  ${name}`);
}

export async function profileServer(
  framework: Framework,
  variant: Variant,
  mix: "repeated" | "distinct",
  seconds: number,
): Promise<string[]> {
  const idp = await startDevIdp();
  const dir = mkdtempSync(`${tmpdir()}/ts-oidc-auth-prof-`);
  try {
    const { kid, privateKey } = idp.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const tokens = await Promise.all(
      Array.from({ length: mix === "repeated" ? 1 : 1000 }, (_, i) =>
        new SignJWT({ scope: "openid profile", realm_access: { roles: ["user"] } })
          .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
          .setIssuer(idp.issuer)
          .setAudience(idp.audience)
          .setSubject(`user-${i}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .setJti(`p-${i}`)
          .sign(privateKey),
      ),
    );
    const config = {
      issuer: idp.issuer,
      discoveryUrl: idp.discoveryUrl,
      jwksUri: `${idp.issuer}/jwks`,
      audience: idp.audience,
      clientId: idp.confidentialClient.clientId,
    };
    const [file, ...args] = pinned(0, [
      process.execPath,
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      ...NODE_TS.slice(1),
      `${BENCH_DIR}server.ts`,
      framework,
      variant,
      JSON.stringify(config),
    ]) as [string, ...string[]];
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        const match = /^listening (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
    });
    await run(
      pinned(1, [...NODE_TS, `${BENCH_DIR}load.ts`]),
      JSON.stringify({
        url: `http://127.0.0.1:${port}`,
        tokens,
        seconds,
        warmupSeconds: 1,
        connections: 10,
      }),
    );
    child.stdin.end();
    await once(child, "exit");
    const [profile] = readdirSync(dir).filter((name) => name.endsWith(".cpuprofile"));
    return summarise(`${dir}/${profile}`);
  } finally {
    await idp.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [framework, variant, mix, seconds] = process.argv.slice(2);
  const lines = await profileServer(
    (framework ?? "express") as Framework,
    (variant ?? "ours") as Variant,
    mix === "distinct" ? "distinct" : "repeated",
    Number(seconds ?? 5),
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}
