/**
 * Processes the fault tests start and must stop again: a private
 * redis-server (so a test can lose its data without touching the shared
 * one), broker instances (helpers/broker-instance.ts) and a SQLite lock
 * holder. Each start registers its process; `stopAll()` ends them in after().
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { TestClient } from "./http.ts";
import { spawnInstance } from "./instance-process.ts";

export class FaultProcesses {
  private readonly children = new Set<ChildProcess>();

  /** Starts `command`, resolving once a line of its stdout matches `ready`. */
  start(command: string, args: string[], ready: RegExp, env = process.env) {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const line = new Promise<string>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`${command} exited with ${code}`)));
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on("line", (text) => {
        if (ready.test(text)) resolve(text);
      });
    });
    return { child, line };
  }

  /** A redis-server without persistence on `port`: a restart loses everything. */
  async startRedis(port: number): Promise<ChildProcess> {
    const { child, line } = this.start(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      /Ready to accept connections/,
    );
    await line;
    return child;
  }

  /** One broker instance process; `env` completes what broker-instance.ts reads. */
  async startInstance(env: Record<string, string>): Promise<TestClient> {
    const { child, http } = await spawnInstance(env);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return http;
  }

  /**
   * A process that holds SQLite's write lock on `path` for `holdMs`
   * (`BEGIN EXCLUSIVE`, or `IMMEDIATE`: a reserved lock, which in rollback
   * mode still lets others read); resolves once it holds it, with when it
   * let go.
   */
  async lockSQLite(path: string, holdMs: number, mode: "EXCLUSIVE" | "IMMEDIATE" = "EXCLUSIVE") {
    const script = `
      const Database = require("better-sqlite3");
      const db = new Database(${JSON.stringify(path)});
      db.exec("BEGIN ${mode}");
      console.log("locked");
      setTimeout(() => { db.exec("COMMIT"); db.close(); console.log("released"); }, ${holdMs});
    `;
    const { child, line } = this.start(process.execPath, ["-e", script], /^locked$/);
    const released = new Promise<number>((resolve) =>
      child.once("exit", () => resolve(Date.now())),
    );
    await line;
    return { released };
  }

  /** Kills `child` and waits until it is gone. */
  async kill(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((child) => this.kill(child, "SIGTERM")));
  }
}

export { freeLoopbackPort as freePort } from "./services.ts";

/** Retries `attempt` until it returns a value or `withinMs` has passed (then the last error). */
export async function eventually<T>(withinMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
