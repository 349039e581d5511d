/**
 * Client authentication with HTTP Basic (RFC 6749 §2.3.1): the client id
 * and secret, each form-urlencoded, joined by `:` and base64-encoded.
 * Secrets are compared through their SHA-256 digests in constant time, so
 * neither their content nor their length shows in the timing.
 */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;

/** The credentials of a `Basic` `Authorization` value, or undefined when it is none or malformed. */
export function basicCredentials(authorization: string | undefined): ClientCredentials | undefined {
  const encoded = authorization === undefined ? undefined : BASIC.exec(authorization)?.[1];
  if (encoded === undefined) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  try {
    return {
      clientId: formDecode(decoded.slice(0, colon)),
      clientSecret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, " "));
}

/** Checks presented credentials against the allowed ones; the secret comparison takes constant time. */
export class ClientRegistry {
  private readonly digests: Map<string, Promise<Uint8Array>>;

  constructor(clients: readonly ClientCredentials[]) {
    this.digests = new Map(clients.map((c) => [c.clientId, sha256(c.clientSecret)]));
  }

  get size(): number {
    return this.digests.size;
  }

  /** True when the `Authorization` value carries the id and secret of an allowed client. */
  async authenticates(authorization: string | undefined): Promise<boolean> {
    const presented = basicCredentials(authorization);
    if (presented === undefined) return false;
    const expected = this.digests.get(presented.clientId);
    const actual = await sha256(presented.clientSecret);
    // An unknown id costs the same digest and comparison as a wrong secret.
    const reference = expected === undefined ? new Uint8Array(actual.length) : await expected;
    let difference = expected === undefined ? 1 : 0;
    for (let i = 0; i < actual.length; i++) difference |= (actual[i] ?? 0) ^ (reference[i] ?? 0);
    return difference === 0;
  }
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
