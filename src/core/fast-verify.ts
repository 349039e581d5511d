/**
 * The Node.js fast path of token verification: RS256 signatures checked
 * with `node:crypto`'s synchronous `verify` (about half the cost of jose's
 * `jwtVerify` through Web Crypto). It only ever *accepts*: a token it does
 * not accept in full goes to jose, which then decides and words the error,
 * so this path can make no token fail that jose admits, nor answer
 * differently. It admits a token only when all of this holds:
 *
 * - three non-empty segments in canonical base64url (`canonicalSegments`,
 *   which `verifyJwt` applies to every token), decoded as jose decodes them;
 * - a protected header that is a JSON object of at most `alg`, `kid` and
 *   `typ`, with `alg` exactly `RS256` and `RS256` allowed: no `crit`, no
 *   `b64`, no embedded or referenced keys, nothing else;
 * - the key is the one jose's own key resolver picks for that header (the
 *   same JWKS, the same selection, imported by jose and so pinned to
 *   RSASSA-PKCS1-v1_5 with SHA-256), public, of at least 2048 bits;
 * - the signature verifies over the first two segments as sent;
 * - the payload is a JSON object whose claims pass the checks jose makes
 *   with the same options (required claims, `iss`, `aud`, `iat`, `nbf`,
 *   `exp` with the clock tolerance); any option this path does not know
 *   sends the token to jose.
 *
 * Duplicate JSON keys are read as jose reads them (`JSON.parse`, the last
 * one wins), so they mean the same thing on both paths. On runtimes other
 * than Node.js the fast path is off and jose does everything.
 */
import type { CompactJWSHeaderParameters, JWTVerifyGetKey, JWTVerifyOptions } from "jose";
import type { IDToken } from "./claims.ts";
import { isNodeJs, loadNodeCrypto, nodeCrypto } from "./node-crypto.ts";

type KeyObject = import("node:crypto").KeyObject;

const SEGMENT = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const HEADER_NAMES = new Set(["alg", "kid", "typ"]);
/** Options this path checks exactly as jose does; any other option set means jose. */
const KNOWN_OPTIONS = new Set([
  "issuer",
  "audience",
  "algorithms",
  "clockTolerance",
  "requiredClaims",
]);

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
let enabled = isNodeJs();

if (enabled) loadNodeCrypto();

/** Switches the fast path off (or on again, on Node.js); for tests and comparisons. */
export function setFastVerify(on: boolean): void {
  enabled = on && isNodeJs();
  if (enabled) loadNodeCrypto();
}

/**
 * The token's claims when the fast path can vouch for them, else undefined
 * (the caller then asks jose). Never throws for a bad token.
 */
export async function fastVerify(
  token: string,
  getKey: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<IDToken | undefined> {
  const node = enabled ? nodeCrypto() : undefined;
  if (node === undefined || !usableOptions(options)) return undefined;
  const segments = canonicalSegments(token);
  if (segments === undefined || segments.includes("")) return undefined;
  const [encodedHeader, encodedPayload, encodedSignature] = segments;
  const signingInputLength = encodedHeader.length + 1 + encodedPayload.length;
  const header = jsonObject(Buffer.from(encodedHeader, "base64url"));
  if (header === undefined || header.alg !== "RS256") return undefined;
  for (const name of Object.keys(header)) if (!HEADER_NAMES.has(name)) return undefined;
  if (header.kid !== undefined && typeof header.kid !== "string") return undefined;
  if (header.typ !== undefined && typeof header.typ !== "string") return undefined;

  let key: unknown;
  try {
    key = await getKey(header as CompactJWSHeaderParameters, {
      payload: encodedPayload,
      protected: encodedHeader,
      signature: encodedSignature,
    });
  } catch {
    return undefined;
  }
  const keyObject = rs256KeyObject(key, node);
  if (keyObject === undefined) return undefined;
  let verified = false;
  try {
    verified = node.verify(
      "sha256",
      Buffer.from(token.slice(0, signingInputLength), "latin1"),
      keyObject,
      Buffer.from(encodedSignature, "base64url"),
    );
  } catch {
    return undefined;
  }
  if (!verified) return undefined;
  const claims = jsonObject(Buffer.from(encodedPayload, "base64url"));
  if (claims === undefined || !claimsAcceptable(claims, options)) return undefined;
  return claims as IDToken;
}

function usableOptions(options: JWTVerifyOptions): boolean {
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name) && options[name as keyof JWTVerifyOptions] !== undefined) {
      return false;
    }
  }
  const { algorithms, clockTolerance } = options;
  return (
    Array.isArray(algorithms) &&
    algorithms.includes("RS256") &&
    (clockTolerance === undefined ||
      (typeof clockTolerance === "number" &&
        Number.isFinite(clockTolerance) &&
        clockTolerance >= 0))
  );
}

/**
 * The three segments of a compact JWS (RFC 7515 §7.1) when each is in
 * canonical base64url, else undefined. Canonical (RFC 7515 §2, RFC 4648 §3.5
 * and §5): only the URL-safe alphabet, no padding, no length that base64
 * cannot have, and the unused low bits of the last character zero. Decoders
 * (jose's included) accept other spellings of the same bytes, e.g. with `=`
 * appended or a different last character; refusing them gives a token
 * exactly one accepted spelling. Both verification paths use this.
 */
export function canonicalSegments(token: string): [string, string, string] | undefined {
  const segments = token.split(".", 4);
  if (segments.length !== 3) return undefined;
  for (const segment of segments) if (!canonicalBase64url(segment)) return undefined;
  return segments as [string, string, string];
}

function canonicalBase64url(segment: string): boolean {
  if (!SEGMENT.test(segment)) return false;
  const trailing = segment.length % 4;
  if (trailing === 0) return true;
  if (trailing === 1) return false;
  // 2 characters carry 1 byte (4 bits unused), 3 carry 2 bytes (2 bits unused).
  const last = BASE64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1));
  return (last & (trailing === 2 ? 0b1111 : 0b11)) === 0;
}

/** A JSON object from strict UTF-8, as jose parses headers and claims; undefined otherwise. */
function jsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The `KeyObject` of a public RS256 CryptoKey of at least 2048 bits, as jose imported it. */
function rs256KeyObject(
  key: unknown,
  node: NonNullable<ReturnType<typeof nodeCrypto>>,
): KeyObject | undefined {
  if (!(key instanceof CryptoKey) || key.type !== "public" || !key.usages.includes("verify")) {
    return undefined;
  }
  const algorithm = key.algorithm as RsaHashedKeyAlgorithm;
  if (
    algorithm.name !== "RSASSA-PKCS1-v1_5" ||
    algorithm.hash?.name !== "SHA-256" ||
    !(algorithm.modulusLength >= 2048)
  ) {
    return undefined;
  }
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    try {
      keyObject = node.KeyObject.from(key);
    } catch {
      return undefined; // jose then decides, and refuses
    }
    keyObjects.set(key, keyObject);
  }
  return keyObject;
}

/** jose's `validateClaimsSet` for the options `usableOptions` admits, answering only yes or no. */
function claimsAcceptable(claims: Record<string, unknown>, options: JWTVerifyOptions): boolean {
  const { issuer, audience, requiredClaims = [] } = options;
  for (const claim of requiredClaims) if (!Object.hasOwn(claims, claim)) return false;
  if (issuer !== undefined) {
    if (!Object.hasOwn(claims, "iss")) return false;
    if (!(Array.isArray(issuer) ? issuer : [issuer]).includes(claims.iss as string)) return false;
  }
  if (audience !== undefined) {
    if (!Object.hasOwn(claims, "aud")) return false;
    const accepted = typeof audience === "string" ? [audience] : audience;
    const { aud } = claims;
    const present =
      typeof aud === "string"
        ? accepted.includes(aud)
        : Array.isArray(aud) && accepted.some((value) => aud.includes(value));
    if (!present) return false;
  }
  const tolerance = (options.clockTolerance as number | undefined) ?? 0;
  const now = Math.floor(Date.now() / 1000);
  const { iat, nbf, exp } = claims;
  if (iat !== undefined && typeof iat !== "number") return false;
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > now + tolerance)) return false;
  if (exp !== undefined && (typeof exp !== "number" || exp <= now - tolerance)) return false;
  return true;
}
