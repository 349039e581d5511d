/**
 * Pieces every backend shares: loading an optional driver, checking name
 * prefixes, and the rules that turn a token and its session into a
 * consume result.
 */
import type { ConsumeResult, RefreshTokenRecord, SessionRecord } from "./types.ts";

/** Current time in unix seconds, the unit of every time in the store. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * A start-up step (connecting, creating tables) run once and shared by all
 * callers. A failure is not kept: the next call tries again.
 */
export class Lazy<T> {
  private promise: Promise<T> | undefined;

  constructor(private readonly start: () => Promise<T>) {}

  get(): Promise<T> {
    this.promise ??= this.start().catch((error: unknown) => {
      this.promise = undefined;
      throw error;
    });
    return this.promise;
  }

  /** Forgets the result and returns what had been started, if anything. */
  take(): Promise<T> | undefined {
    const started = this.promise;
    this.promise = undefined;
    return started;
  }
}

/** A record is live while `now` is before its expiry. */
export function isLive(record: { expiresAt: number }, now: number): boolean {
  return record.expiresAt > now;
}

/**
 * Imports a driver that is an optional peer dependency. A missing package
 * becomes an error that says what to install instead of a bare
 * ERR_MODULE_NOT_FOUND.
 */
export async function loadDriver<T>(
  storeName: string,
  packageName: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isModuleNotFound(error, packageName)) {
      throw new Error(
        `The ${storeName} broker store needs the "${packageName}" package: npm install ${packageName}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function isModuleNotFound(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  // Only the driver itself: a missing dependency *inside* it is another problem.
  return code === "ERR_MODULE_NOT_FOUND" && error.message.includes(`'${packageName}'`);
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
  "completeRotation: the consumed refresh token is unknown, not claimed, or already completed";
export const ROTATION_SESSION_GONE = "completeRotation: the session no longer exists";

/**
 * Classifies a token whose conditional claim did not succeed: gone, expired
 * or orphaned tokens are "unknown"; a live token someone else consumed is
 * "already-consumed".
 */
export function unclaimedResult(
  token: RefreshTokenRecord | null,
  session: SessionRecord | null,
  now: number,
): ConsumeResult {
  if (!token || !isLive(token, now) || !session || !isLive(session, now)) {
    return { status: "unknown" };
  }
  if (token.consumedAt === null) {
    // Released again between our attempt and this read: not ours to claim now.
    return { status: "unknown" };
  }
  return { status: "already-consumed", token };
}
