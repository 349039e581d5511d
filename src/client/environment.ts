/** What the environment allows: a person at a terminal, a browser on this machine. */
import { spawn } from "node:child_process";

/** Batch schedulers and CI systems: nobody is there to log in, even when a TTY is attached. */
const BATCH_VARIABLES = [
  "CI",
  "SLURM_JOB_ID",
  "PBS_JOBID",
  "LSB_JOBID",
  "SGE_TASK_ID",
  "OAR_JOB_ID",
  "KUBERNETES_SERVICE_HOST",
];

/**
 * A person can answer: stdin and stderr are terminals (stdout may be captured,
 * as in `TOKEN=$(ts-oidc-auth token)`, since prompts go to stderr) and no
 * batch system runs us.
 */
export function isInteractive(env: NodeJS.ProcessEnv = process.env): boolean {
  if (BATCH_VARIABLES.some((name) => env[name] !== undefined && env[name] !== "")) return false;
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** A browser can open on this machine: always on macOS and Windows, with a display elsewhere. */
export function canOpenBrowser(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): boolean {
  if (platform === "darwin" || platform === "win32") return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY || env.BROWSER);
}

/** Opens a URL in the system browser; rejects when no opener can be started. */
export function openSystemBrowser(url: string): Promise<void> {
  const [command, ...args] = openerCommand(url);
  return new Promise((resolve, reject) => {
    // No shell: the URL is one argument, never parsed by a shell.
    const child = spawn(command ?? "xdg-open", args, { stdio: "ignore", detached: true });
    child.once("error", reject);
    child.once("spawn", () => {
      child.unref();
      resolve();
    });
  });
}

function openerCommand(url: string): string[] {
  if (process.env.BROWSER) return [process.env.BROWSER, url];
  if (process.platform === "darwin") return ["open", url];
  // rundll32 takes the URL as it is; `start` would hand it to cmd's parser.
  if (process.platform === "win32") return ["rundll32", "url.dll,FileProtocolHandler", url];
  return ["xdg-open", url];
}
