/**
 * Cookies in and out (RFC 6265): reading the `Cookie` header, writing
 * `Set-Cookie` with the attributes a session needs, and splitting a value
 * too large for one cookie into numbered chunks (browsers keep at least
 * 4096 bytes per cookie, RFC 6265 §6.1, name and attributes included).
 */

/** Largest value put into one cookie; the rest of the 4096 bytes is for name and attributes. */
export const CHUNK_SIZE = 3800;
/** More chunks than this is no session of ours (and bounds what a request makes us read). */
const MAX_CHUNKS = 8;

/** The cookies of a `Cookie` header by name; the first of repeated names wins (RFC 6265 §5.4). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals < 0) continue;
    const name = pair.slice(0, equals).trim();
    const value = pair.slice(equals + 1).trim();
    if (name !== "" && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export interface CookieScope {
  /** Whether the cookie is `Secure` (and `__Host-` prefixed): everywhere but loopback http. */
  secure: boolean;
}

/** The cookie name as sent: `__Host-` in front when secure (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain). */
export function cookieName(base: string, scope: CookieScope): string {
  return scope.secure ? `__Host-${base}` : base;
}

/** A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure where the scope says. */
export function setCookie(
  name: string,
  value: string,
  maxAgeSeconds: number,
  scope: CookieScope,
): string {
  const attributes = [
    `${name}=${value}`,
    "Path=/",
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    "HttpOnly",
    "SameSite=Lax",
  ];
  if (scope.secure) attributes.push("Secure");
  return attributes.join("; ");
}

export const clearCookie = (name: string, scope: CookieScope) => setCookie(name, "", 0, scope);

/** A value read from one cookie or its chunks `name.0`, `name.1`, …; undefined when absent. */
export function readChunked(cookies: Map<string, string>, name: string): string | undefined {
  const whole = cookies.get(name);
  if (whole !== undefined) return whole;
  const parts: string[] = [];
  for (let i = 0; i < MAX_CHUNKS; i += 1) {
    const part = cookies.get(`${name}.${i}`);
    if (part === undefined) break;
    parts.push(part);
  }
  return parts.length === 0 ? undefined : parts.join("");
}

/**
 * The `Set-Cookie` values that store `value` under `name`, in one cookie or
 * in chunks, and clear whatever the request held under that name that the
 * new value does not overwrite.
 */
export function writeChunked(
  cookies: Map<string, string>,
  name: string,
  value: string,
  maxAgeSeconds: number,
  scope: CookieScope,
): string[] {
  const written = new Set<string>();
  const out: string[] = [];
  if (value.length <= CHUNK_SIZE) {
    written.add(name);
    out.push(setCookie(name, value, maxAgeSeconds, scope));
  } else {
    for (let i = 0; i * CHUNK_SIZE < value.length; i += 1) {
      written.add(`${name}.${i}`);
      out.push(
        setCookie(
          `${name}.${i}`,
          value.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
          maxAgeSeconds,
          scope,
        ),
      );
    }
  }
  for (const held of heldNames(cookies, name)) {
    if (!written.has(held)) out.push(clearCookie(held, scope));
  }
  return out;
}

/** `Set-Cookie` values that remove `name` and all its chunks the request held (and the whole one). */
export function clearChunked(
  cookies: Map<string, string>,
  name: string,
  scope: CookieScope,
): string[] {
  const names = new Set([name, ...heldNames(cookies, name)]);
  return [...names].map((held) => clearCookie(held, scope));
}

function heldNames(cookies: Map<string, string>, name: string): string[] {
  const chunk = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")}\\.\\d+$`);
  return [...cookies.keys()].filter((held) => held === name || chunk.test(held));
}
