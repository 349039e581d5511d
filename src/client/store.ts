/**
 * The per-user token store: one JSON file, tokens keyed by host, written
 * atomically (a temporary file renamed over the old one) with mode 0600, so
 * a crash never leaves half a file and no other user can read it. Entries
 * whose tokens have all expired are dropped whenever the file is read. A
 * file that is not a token store is reported and never overwritten.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { TokenStoreError } from "./errors.ts";
import { nowSeconds, type StoredToken } from "./token.ts";

const VERSION = 1;

interface StoreFile {
  version: typeof VERSION;
  tokens: Record<string, StoredToken>;
}

/** `$XDG_CONFIG_HOME/ts-oidc-auth/tokens.json` (`~/.config/…`); the platform's equivalent on macOS and Windows. */
export function defaultTokenStorePath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  return join(configDirectory(env, platform), "ts-oidc-auth", "tokens.json");
}

function configDirectory(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  if (platform === "win32") return env.APPDATA ?? join(homedir(), "AppData", "Roaming");
  if (platform === "darwin") return join(homedir(), "Library", "Application Support");
  // The XDG spec says relative values are invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  return xdg?.startsWith("/") ? xdg : join(homedir(), ".config");
}

/**
 * The key of a host: scheme and host in lower case, without a default port or
 * a trailing slash; the path stays, since two apps may share an origin.
 */
export function hostKey(host: string): string {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new TypeError(`The host must be an absolute http(s) URL, got ${JSON.stringify(host)}.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`The host must be an http(s) URL, got ${JSON.stringify(host)}.`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export class TokenStore {
  constructor(readonly path: string = defaultTokenStorePath()) {}

  /** The stored token of a host, unless it has expired entirely. */
  async get(host: string): Promise<StoredToken | undefined> {
    const file = await this.#readPruned();
    return file.tokens[hostKey(host)];
  }

  async put(host: string, token: StoredToken): Promise<void> {
    const file = await this.#readPruned();
    file.tokens[hostKey(host)] = token;
    await this.#write(file);
  }

  /** Forgets a host's token; true when there was one. */
  async remove(host: string): Promise<boolean> {
    const file = await this.#readPruned();
    const key = hostKey(host);
    if (!(key in file.tokens)) return false;
    delete file.tokens[key];
    await this.#write(file);
    return true;
  }

  /** The hosts with a stored token. */
  async hosts(): Promise<string[]> {
    return Object.keys((await this.#readPruned()).tokens);
  }

  /** Reads the file and, when some entries expired, writes it back without them. */
  async #readPruned(): Promise<StoreFile> {
    const file = await this.#read();
    if (file === undefined) return { version: VERSION, tokens: {} };
    const now = nowSeconds();
    const expired = Object.keys(file.tokens).filter((key) => isDead(file.tokens[key], now));
    if (expired.length === 0) return file;
    for (const key of expired) delete file.tokens[key];
    await this.#write(file);
    return file;
  }

  async #read(): Promise<StoreFile | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return undefined;
      throw new TokenStoreError(
        `Cannot read the token store ${this.path}: ${String(error)}`,
        this.path,
      );
    }
    return parseStore(text, this.path);
  }

  async #write(file: StoreFile): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
      // The mode given to open() is filtered by the umask; 0600 must hold whatever the umask.
      await chmod(temporary, 0o600);
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

/** An entry is dead when neither its access token nor its refresh token can be used any more. */
function isDead(token: StoredToken | undefined, now: number): boolean {
  if (token === undefined) return true;
  if (token.refresh_token !== undefined && token.refresh_expires === undefined) return false;
  return Math.max(token.expires, token.refresh_expires ?? 0) <= now;
}

function parseStore(text: string, path: string): StoreFile {
  const corrupt = (reason: string) =>
    new TokenStoreError(
      `The token store ${path} is not a valid token store (${reason}). It was left untouched: ` +
        "fix it, or move it away to start with an empty store.",
      path,
    );
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  if (!isRecord(data) || data.version !== VERSION || !isRecord(data.tokens)) {
    throw corrupt(`expected {"version": ${VERSION}, "tokens": {…}}`);
  }
  for (const [host, token] of Object.entries(data.tokens)) {
    if (!isStoredToken(token)) throw corrupt(`the entry of ${host} is not a token`);
  }
  return data as unknown as StoreFile;
}

function isStoredToken(value: unknown): value is StoredToken {
  return (
    isRecord(value) &&
    typeof value.access_token === "string" &&
    typeof value.token_type === "string" &&
    typeof value.expires === "number" &&
    optional(value.refresh_token, "string") &&
    optional(value.refresh_expires, "number") &&
    optional(value.scope, "string")
  );
}

function optional(value: unknown, type: "string" | "number"): boolean {
  return value === undefined || typeof value === type;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && "code" in error && error.code === code;
}
