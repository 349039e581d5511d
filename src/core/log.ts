/**
 * Where the library reports configuration warnings and operational problems
 * (docs/troubleshooting.md "Logging"). Messages are ours: they name the cause and what to
 * check, never a token, a secret or the IdP's raw text. `fields` carry the
 * same facts as structured data (a URL without its userinfo, an HTTP status,
 * an error code).
 *
 * The shape is the console's (message first), so `console` and winston fit
 * as they are; a pino instance is recognised and called object first, as
 * pino wants (`logger.warn(fields, message)`); for another object-first
 * logger (bunyan) wrap it with `fieldsFirst(logger)`.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug?(message: string, fields?: LogFields): void;
  info?(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger with every level; what the library calls once options are resolved. */
export type ResolvedLogger = Required<Logger>;

const LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];

const withFields = (fields: LogFields | undefined) => (fields === undefined ? [] : [fields]);

/** The default: warnings and errors to the console, prefixed; debug and info are dropped. */
export const consoleLogger: Logger = {
  warn: (message, fields) => console.warn(`[ts-oidc-auth] ${message}`, ...withFields(fields)),
  error: (message, fields) => console.error(`[ts-oidc-auth] ${message}`, ...withFields(fields)),
};

/** An object-first logger (pino, bunyan: `logger.warn(fields, message)`) as a `Logger`. */
export function fieldsFirst(
  target: {
    [level in Level]?: (fields: LogFields, message: string) => void;
  },
): Logger {
  const call = (level: Level) => (message: string, fields?: LogFields) =>
    target[level]?.call(target, fields ?? {}, message);
  return { debug: call("debug"), info: call("info"), warn: call("warn"), error: call("error") };
}

/** pino's documented API: `levels`, `bindings()` and `child()` together. */
function isPino(value: object): boolean {
  const candidate = value as { levels?: unknown; bindings?: unknown; child?: unknown };
  return (
    typeof candidate.levels === "object" &&
    typeof candidate.bindings === "function" &&
    typeof candidate.child === "function"
  );
}

/**
 * Checks a configured logger and gives it every level, each called as a
 * method of the logger (pino's need `this`). Returns a problem to report
 * under the option's name, or the logger.
 */
export function resolveLogger(value: unknown): ResolvedLogger | string {
  if (typeof value !== "object" || value === null) {
    return "expected an object with warn(message) and error(message) methods (e.g. console or a pino logger)";
  }
  const target = value as Record<string, unknown>;
  for (const level of LEVELS) {
    const method = target[level];
    const required = level === "warn" || level === "error";
    if (method === undefined && !required) continue;
    if (typeof method !== "function") {
      return `expected ${level}(message) to be a function${required ? "" : " when present"}, got ${method === undefined ? "none" : typeof method}`;
    }
  }
  const logger = isPino(target) ? fieldsFirst(target as never) : (target as unknown as Logger);
  const bound = (level: Level) => {
    const method = logger[level];
    if (method === undefined) return () => {};
    return (message: string, fields?: LogFields) => {
      if (fields === undefined) method.call(logger, message);
      else method.call(logger, message, fields);
    };
  };
  return {
    debug: bound("debug"),
    info: bound("info"),
    warn: bound("warn"),
    error: bound("error"),
  };
}

/**
 * Names an unexpected error without its message, which may quote a token or
 * IdP text: its class and the first error code along its causes (e.g.
 * `TypeError (ECONNREFUSED)` for a fetch that found nothing listening).
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = errorCode(error);
    return code === undefined ? error.name : `${error.name} (${code})`;
  }
  return typeof error;
}

/**
 * The first string `code` along an error's `cause` chain and inside
 * AggregateErrors (Node's fetch reports ECONNREFUSED or ENOTFOUND on its
 * cause; a connection tried on several addresses, on each).
 */
export function errorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 5) return undefined;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const inner =
    errorCode(cause, depth + 1) ??
    (Array.isArray(errors) ? errors.map((e) => errorCode(e, depth + 1)).find(Boolean) : undefined);
  // A library's own wrapper code (undici's UND_ERR_*) says less than the system's below it.
  if (typeof code === "string" && !(inner && code.startsWith("UND_ERR"))) return code;
  return inner;
}

/** A URL fit for a log line: without userinfo (`user:password@`), which may be a credential. */
export function loggableUrl(url: URL | string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch {
    return "(not a URL)";
  }
}
