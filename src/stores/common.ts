/**
 * Pieces every backend shares: checking name prefixes, and the rules that turn a token and its session into a
 * consume result.
 */
import type { ConsumeResult, RefreshTokenRecord, SessionRecord } from "./types.ts";

export { Lazy } from "../core/lazy.ts";
export { nowSeconds } from "../core/time.ts";

/** A record is live while `now` is before its expiry. */
export function isLive(record: { expiresAt: number }, now: number): boolean {
  return record.expiresAt > now;
}

/** Whether a session is one that `BrokerStore.revokeSessionsOf(who)` names (see its rules there). */
export function sessionMatches(
  session: { subject: string; idpSid?: string | undefined },
  who: { subject?: string; idpSid?: string },
): boolean {
  const { subject, idpSid } = who;
  if (subject === undefined) return idpSid !== undefined && session.idpSid === idpSid;
  if (session.subject !== subject) return false;
  return idpSid === undefined || session.idpSid === undefined || session.idpSid === idpSid;
}

/** Constructor check: at least one of the named options must be given. */
export function requireOneOf(storeName: string, options: Record<string, unknown>): void {
  if (Object.values(options).every((value) => value === undefined || value === "")) {
    throw new Error(`${storeName} needs one of these options: ${Object.keys(options).join(", ")}`);
  }
}

const PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/**
 * Table and collection prefixes end up inside SQL text and collection
 * names, so only plain identifiers are allowed.
 */
export function checkNamePrefix(prefix: string, option: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(
      `${option} must start with a letter or underscore and hold at most 40 letters, digits or underscores`,
    );
  }
  return prefix;
}

export const DEFAULT_NAME_PREFIX = "oidc_broker_";

/** Thrown by completeRotation when the claim or the session it builds on is gone. */
export class RotationConflictError extends Error {
  override readonly name = "RotationConflictError";
}

export const ROTATION_NOT_CLAIMED =
  "completeRotation: the consumed refresh token is unknown, claimed by someone else, or already completed";
export const ROTATION_SESSION_GONE = "completeRotation: the session no longer exists";

/**
 * Classifies a token whose conditional claim did not succeed: gone, expired
 * or orphaned tokens are "unknown"; a live token someone else consumed (or
 * released a moment ago) is "already-consumed".
 */
export function unclaimedResult(
  token: RefreshTokenRecord | null,
  session: SessionRecord | null,
  now: number,
): ConsumeResult {
  if (!token || !isLive(token, now) || !session || !isLive(session, now)) {
    return { status: "unknown" };
  }
  // consumedAt null: released between our attempt and this read; the caller tries again.
  return { status: "already-consumed", token };
}

/** How long a store call may take before the broker answers 503 (docs/broker.md "Running several instances"). */
export const DEFAULT_STORE_TIMEOUT_MS = 5000;

/** A store call that did not finish in time; `code` reads like the drivers' own timeouts. */
export class StoreTimeoutError extends Error {
  override readonly name = "StoreTimeoutError";
  readonly code = "ETIMEDOUT";
}

/**
 * The store with every call bounded by `timeoutMs`, so that no request waits
 * on a store that stopped answering (a dropped route, a full connection
 * pool). The call itself is not cancelled; the drivers' own timeouts, set
 * from the same value, end it soon after.
 */
export function withCallTimeout<T extends object>(store: T, timeoutMs: number, name: string): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        bounded(value.apply(target, args), timeoutMs, `${name} ${String(property)}`);
    },
  });
}

function bounded<T>(call: T | Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreTimeoutError(`${what} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([Promise.resolve(call), timeout]).finally(() => clearTimeout(timer));
}
