/**
 * Driving the command-line client's logins without a person: the IdP's
 * forms are filled in by the programmatic user agent, over real HTTP.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { IdpUserAgent } from "../../dev-idp/user-agent.ts";
import type { DevicePrompt, LoginReporter } from "../../src/client/index.ts";
import { ALICE } from "./flows.ts";

export const CLI = new URL("../../src/client/cli.ts", import.meta.url).pathname;

/**
 * An `openBrowser` that does what a person's browser would: log in at the
 * IdP's form and load the loopback callback it is sent back to. Resolves once
 * the callback has answered.
 */
export function programmaticBrowser(who = ALICE, seen: URL[] = []) {
  return async (authorizationUrl: string): Promise<void> => {
    const back = await new IdpUserAgent().authorize(authorizationUrl, who.username, who.password);
    seen.push(back);
    const callback = await fetch(back);
    assert.equal(callback.status, 200, await callback.text());
  };
}

/** A reporter that records everything and approves each device code at the IdP as `who` (unless `approve` is false). */
export function approvingReporter(who = ALICE, approve = true) {
  const events: string[] = [];
  const prompts: DevicePrompt[] = [];
  const approvals: Promise<void>[] = [];
  const intervals: number[] = [];
  const reporter: LoginReporter = {
    deviceCode(prompt) {
      events.push("deviceCode");
      prompts.push(prompt);
      const uri = prompt.verification_uri_complete ?? prompt.verification_uri;
      if (approve)
        approvals.push(new IdpUserAgent().approveDevice(uri, who.username, who.password));
    },
    browserLogin: () => events.push("browserLogin"),
    waiting: (status) => {
      events.push("waiting");
      intervals.push(status.interval);
    },
    stopped: () => events.push("stopped"),
  };
  return { reporter, events, prompts, intervals, approved: () => Promise.all(approvals) };
}

/** A reporter for calls that must not start a login. */
export const noLoginReporter: LoginReporter = {
  deviceCode: () => assert.fail("a device login started"),
  browserLogin: () => assert.fail("a browser login started"),
  waiting: () => {},
  stopped: () => {},
};

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without a terminal (stdin is not a TTY), as a script or CI would. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    env: { ...process.env, TS_OIDC_AUTH_TOKEN: "", ...env },
    stdio: "pipe",
  });
}

export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onStderr?: (text: string) => void,
): Promise<CliResult> {
  const child = startCli(args, env);
  child.stdin.end();
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    onStderr?.(stderr);
  });
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr };
}
