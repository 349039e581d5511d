/**
 * The demo as a user starts it: `npm start` in its own process group, so a
 * test can press Ctrl-C (SIGINT to the whole group, as a terminal does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

export interface DemoProcess {
  /** The page URL the demo printed. */
  url: string;
  /** The IdP's URL the demo printed. */
  idpUrl: string;
  /** Everything the demo printed on stdout so far. */
  output(): string;
  /** Ctrl-C: SIGINT to the process group; resolves when every process of it has closed stdout. */
  interrupt(): Promise<void>;
}

export async function startDemoProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<DemoProcess> {
  const child = spawn("npm", ["start", "--", ...args], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const closed = once(child, "close");
  try {
    await waitForBanner(
      child,
      () => stdout,
      () => stderr,
    );
  } catch (error) {
    killGroup(child, "SIGKILL");
    throw error;
  }
  return {
    url: match(stdout, /Open (\S+) in your browser/),
    idpUrl: match(stdout, /identity provider \(dev IdP\): (\S+)/),
    output: () => stdout,
    interrupt: async () => {
      killGroup(child, "SIGINT");
      await closed;
    },
  };
}

async function waitForBanner(child: ChildProcess, stdout: () => string, stderr: () => string) {
  const deadline = Date.now() + 60_000;
  while (!stdout().includes("Press Ctrl-C to stop.")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the demo did not start:\n${stdout()}\n${stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function match(text: string, pattern: RegExp): string {
  const found = pattern.exec(text)?.[1];
  if (found === undefined) throw new Error(`the demo's output lacks ${pattern}:\n${text}`);
  return found;
}
