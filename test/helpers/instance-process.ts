/**
 * Starts test/helpers/broker-instance.ts in its own Node process and keeps
 * what it writes to stderr, so a fault test can kill it with SIGKILL and
 * read what the library logged.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { TestClient } from "./http.ts";

export interface InstanceProcess {
  http: TestClient;
  child: ChildProcess;
  /** stderr so far, line by line. */
  log: string[];
}

const SCRIPT = new URL("./broker-instance.ts", import.meta.url).pathname;

export function spawnInstance(env: Record<string, string>): Promise<InstanceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
    log.push(line);
    if (!env.VERBOSE) process.stderr.write(`${line}\n`);
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`instance exited with ${code}: ${log.join("\n")}`)),
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", (line) => {
      resolve({ http: new TestClient(JSON.parse(line).url), child, log });
    });
  });
}

/** Stops every instance still running: SIGTERM, then SIGKILL for one that has not exited within 5 s. */
export async function stopInstances(instances: readonly { child: ChildProcess }[]): Promise<void> {
  await Promise.all(
    instances.map(({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const stubborn = setTimeout(() => child.kill("SIGKILL"), 5000);
      return exited.finally(() => clearTimeout(stubborn));
    }),
  );
}
