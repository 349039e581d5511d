/**
 * The device flow (RFC 8628) through the app's `/device` and `/token`
 * endpoints: show the code, then poll at the server's `interval`, five
 * seconds slower after each `slow_down`, until the person confirms or the
 * code expires.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AuthClientError } from "./errors.ts";
import type { LoginReporter } from "./reporter.ts";
import { type Endpoints, type Json, postForm } from "./server.ts";

export interface WaitOptions {
  reporter: LoginReporter;
  /** Longest wait for the person, in milliseconds. */
  timeoutMs: number;
  requestTimeoutMs: number;
  signal: AbortSignal | undefined;
}

interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string | undefined;
  expires_in: number;
  interval: number;
}

/** Transient failures (server down, 5xx) in a row before giving up. */
const MAX_TRANSIENT_FAILURES = 5;

/** Runs the device flow; returns the token endpoint's answer. */
export async function deviceLogin(endpoints: Endpoints, options: WaitOptions): Promise<Json> {
  const started = deviceStart(await postForm(endpoints.device, {}, options.requestTimeoutMs));
  const codeExpires = Date.now() + started.expires_in * 1000;
  options.reporter.deviceCode({
    user_code: started.user_code,
    verification_uri: started.verification_uri,
    verification_uri_complete: started.verification_uri_complete,
    expiresAt: codeExpires,
  });
  const deadline = Math.min(codeExpires, Date.now() + options.timeoutMs);
  try {
    return await poll(endpoints.token, started, deadline, options);
  } finally {
    options.reporter.stopped();
  }
}

/**
 * Polls until the deadline and once at it: the last wait is cut to the time
 * left, so `--timeout` is honoured exactly, not one interval early. That
 * last poll may come sooner than `interval` after the one before: RFC 8628
 * §3.2 makes the interval a SHOULD, and an early poll at worst earns a
 * `slow_down`, after which the wait ends anyway.
 */
async function poll(
  tokenUrl: URL,
  started: DeviceStart,
  deadline: number,
  options: WaitOptions,
): Promise<Json> {
  let interval = Math.max(1, started.interval);
  let failures = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new AuthClientError("The login was not confirmed in time.", { error: "expired_token" });
    }
    options.reporter.waiting({ interval, deadline });
    await sleep(Math.min(interval * 1000, left), undefined, { signal: options.signal });
    try {
      return await postForm(
        tokenUrl,
        { "device-code": started.device_code },
        options.requestTimeoutMs,
      );
    } catch (error) {
      if (!(error instanceof AuthClientError)) throw error;
      failures = isTransient(error) ? failures + 1 : 0;
      interval = nextInterval(interval, error, failures);
    }
  }
}

function isTransient(error: AuthClientError): boolean {
  return error.status === undefined || error.status >= 500;
}

/**
 * The interval after a failed poll (RFC 8628 §3.5): the same while the login
 * is pending or after a transient failure (server unreachable, 5xx; up to
 * `MAX_TRANSIENT_FAILURES` in a row), 5 seconds more after `slow_down`;
 * anything else ends the login (throws).
 */
export function nextInterval(interval: number, error: AuthClientError, failures: number): number {
  if (error.error === "authorization_pending") return interval;
  if (error.error === "slow_down") return interval + 5;
  if (isTransient(error) && failures < MAX_TRANSIENT_FAILURES) return interval;
  if (error.error === "access_denied") {
    throw new AuthClientError("The login was denied.", {
      status: error.status,
      error: error.error,
    });
  }
  if (error.error === "expired_token") {
    throw new AuthClientError("The device code expired before the login was confirmed.", {
      status: error.status,
      error: error.error,
    });
  }
  throw error;
}

function deviceStart(body: Json): DeviceStart {
  const { device_code, user_code, verification_uri } = body;
  if (typeof device_code !== "string" || typeof user_code !== "string") {
    throw new AuthClientError("The device endpoint's answer lacks device_code or user_code.");
  }
  if (typeof verification_uri !== "string") {
    throw new AuthClientError("The device endpoint's answer lacks verification_uri.");
  }
  const complete = body.verification_uri_complete;
  return {
    device_code,
    user_code,
    verification_uri,
    verification_uri_complete: typeof complete === "string" ? complete : undefined,
    expires_in: positive(body.expires_in) ?? 600,
    // RFC 8628 §3.2: without an interval, 5 seconds.
    interval: positive(body.interval) ?? 5,
  };
}

function positive(value: unknown): number | undefined {
  const number = typeof value === "string" ? Number(value) : value;
  return typeof number === "number" && Number.isFinite(number) && number > 0 ? number : undefined;
}
