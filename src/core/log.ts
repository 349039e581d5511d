/** Where the library reports configuration warnings and operational problems. */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  warn: (message) => console.warn(`[ts-oidc-auth] ${message}`),
  error: (message) => console.error(`[ts-oidc-auth] ${message}`),
};

/** Names an unexpected error without its message, which may quote a token or IdP text. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${error.name} (${code})` : error.name;
  }
  return typeof error;
}
