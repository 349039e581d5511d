/**
 * The Node.js fast path of token verification: RS256, ES256 and EdDSA
 * (Ed25519) signatures checked with `node:crypto`'s synchronous `verify`
 * (about half the cost of jose's `jwtVerify` through Web Crypto). It only
 * ever *accepts*: a token it does not accept in full goes to jose, which
 * then decides and words the error, so this path can make no token fail
 * that jose admits, nor answer differently. It admits a token only when all
 * of this holds:
 *
 * - three non-empty segments in canonical base64url (`canonicalSegments`,
 *   which `verifyJwt` applies to every token), decoded as jose decodes them;
 * - a protected header that is a JSON object of at most `alg`, `kid` and
 *   `typ`, with `alg` exactly one of `FAST_ALGORITHMS` and allowed by the
 *   options: no `crit`, no `b64`, no embedded or referenced keys, nothing
 *   else;
 * - the key is the one jose's own key resolver picks for that header (the
 *   same JWKS, the same selection, imported by jose and so pinned to the
 *   algorithm), public, and passes jose's own checks for that algorithm
 *   (RSASSA-PKCS1-v1_5 with SHA-256 of at least 2048 bits; ECDSA on P-256;
 *   Ed25519);
 * - the signature verifies over the first two segments as sent (ECDSA in
 *   the IEEE P1363 form of RFC 7518 §3.4, as Web Crypto reads it);
 * - the payload is a JSON object whose claims pass the checks jose makes
 *   with the same options (required claims, `iss`, `aud`, `iat`, `nbf`,
 *   `exp` with the clock tolerance); any option this path does not know
 *   sends the token to jose.
 *
 * Duplicate JSON keys are read as jose reads them (`JSON.parse`, the last
 * one wins), so they mean the same thing on both paths. On runtimes other
 * than Node.js the fast path is off and jose does everything.
 *
 * `fastVerifyNow` is the same check without an await, for the guards: it
 * answers only when the key resolver has picked the key for that `alg` and
 * `kid` before and the keys need no reload (`RefreshingKeySet.keyNow`), and
 * it remembers the verdict on a header segment (a pure function of its
 * text), so that the tokens of one IdP key decode and check their common
 * header once.
 */
import type { CompactJWSHeaderParameters, JWTVerifyGetKey, JWTVerifyOptions } from "jose";
import type { IDToken } from "./claims.ts";
import { isNodeJs, loadNodeCrypto, nodeCrypto } from "./node-crypto.ts";

type KeyObject = import("node:crypto").KeyObject;
type NodeCrypto = NonNullable<ReturnType<typeof nodeCrypto>>;

/** What picks the key for a header without an await (`RefreshingKeySet`). */
export interface KeysNow {
  keyNow(alg: string, kid: string | undefined): CryptoKey | undefined;
}

/** Claims the fast path vouches for, and the key that verified them. */
export interface FastVerified {
  claims: IDToken;
  key: CryptoKey;
}

/** A protected header the fast path admits (at most `alg`, `kid`, `typ`). */
interface AdmittedHeader {
  alg: string;
  kid: string | undefined;
  algorithm: FastAlgorithm;
}

/** How `node:crypto` checks one JWS algorithm, and which CryptoKeys jose would use for it. */
interface FastAlgorithm {
  /** The digest `verify` is given; null where the algorithm names its own (Ed25519). */
  digest: "sha256" | null;
  /** ECDSA signatures are r || s (RFC 7518 §3.4), not DER. */
  dsaEncoding?: "ieee-p1363";
  /** jose's `checkCryptoKey` (and `checkModulusLength`) for this algorithm. */
  admitsKey(algorithm: KeyAlgorithm): boolean;
}

const EDDSA: FastAlgorithm = {
  digest: null,
  admitsKey: (algorithm) => algorithm.name === "Ed25519",
};

/** The algorithms of the fast path (RFC 7518 §3.1, RFC 8037 §3.1); any other `alg` means jose. */
const FAST_ALGORITHMS: ReadonlyMap<string, FastAlgorithm> = new Map([
  [
    "RS256",
    {
      digest: "sha256",
      admitsKey: (algorithm: KeyAlgorithm) => {
        const rsa = algorithm as RsaHashedKeyAlgorithm;
        return (
          rsa.name === "RSASSA-PKCS1-v1_5" &&
          rsa.hash?.name === "SHA-256" &&
          rsa.modulusLength >= 2048
        );
      },
    },
  ],
  [
    "ES256",
    {
      digest: "sha256",
      dsaEncoding: "ieee-p1363",
      admitsKey: (algorithm: KeyAlgorithm) =>
        algorithm.name === "ECDSA" && (algorithm as EcKeyAlgorithm).namedCurve === "P-256",
    },
  ],
  ["EdDSA", EDDSA],
  ["Ed25519", EDDSA],
]);

interface AdmittedKey {
  keyObject: KeyObject;
  algorithm: FastAlgorithm;
}

const SEGMENT = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEADER_NAMES = new Set(["alg", "kid", "typ"]);
/** Options this path checks exactly as jose does; any other option set means jose. */
const KNOWN_OPTIONS = new Set([
  "issuer",
  "audience",
  "algorithms",
  "clockTolerance",
  "requiredClaims",
]);
/** Header segments remembered as admitted; a full map starts over (they are cheap to recheck). */
const MAX_ADMITTED_HEADERS = 256;

/** Admitted keys (checked once: a CryptoKey's type, usages and algorithm never change). */
const admittedKeys = new WeakMap<CryptoKey, AdmittedKey>();
/** Verdicts of `usableOptions`: the verifiers build their options once and never change them. */
const optionVerdicts = new WeakMap<JWTVerifyOptions, boolean>();
/** Admitted header segments, by their exact text. */
const admittedHeaders = new Map<string, AdmittedHeader>();
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
  if (segments === undefined) return undefined;
  const [encodedHeader, encodedPayload, encodedSignature] = segments;
  const header = admittedHeader(encodedHeader, options);
  if (header === undefined) return undefined;
  let key: unknown;
  try {
    key = await getKey({ alg: header.alg, kid: header.kid } as CompactJWSHeaderParameters, {
      payload: encodedPayload,
      protected: encodedHeader,
      signature: encodedSignature,
    });
  } catch {
    return undefined;
  }
  return verifiedClaims(node, token, segments, header, key, options);
}

/**
 * `fastVerify` without an await: the claims and key when the fast path
 * vouches for the token and `keys` has its key at hand; undefined means
 * "ask `verifyJwt`", never "invalid". `segments` are `canonicalSegments(token)`.
 */
export function fastVerifyNow(
  token: string,
  segments: readonly [string, string, string],
  keys: KeysNow,
  options: JWTVerifyOptions,
): FastVerified | undefined {
  const node = enabled ? nodeCrypto() : undefined;
  if (node === undefined || !usableOptions(options)) return undefined;
  const header = admittedHeader(segments[0], options);
  if (header === undefined) return undefined;
  const key = keys.keyNow(header.alg, header.kid);
  if (key === undefined) return undefined;
  const claims = verifiedClaims(node, token, segments, header, key, options);
  return claims === undefined ? undefined : { claims, key };
}

/** Signature and claims of a token whose header was admitted, with the resolver's key. */
function verifiedClaims(
  node: NodeCrypto,
  token: string,
  segments: readonly [string, string, string],
  header: AdmittedHeader,
  key: unknown,
  options: JWTVerifyOptions,
): IDToken | undefined {
  const [encodedHeader, encodedPayload, encodedSignature] = segments;
  if (encodedPayload === "" || encodedSignature === "") return undefined;
  const { algorithm } = header;
  const keyObject = keyObjectFor(key, algorithm, node);
  if (keyObject === undefined) return undefined;
  const signingInputLength = encodedHeader.length + 1 + encodedPayload.length;
  let verified = false;
  try {
    verified = node.verify(
      algorithm.digest,
      Buffer.from(token.slice(0, signingInputLength), "latin1"),
      algorithm.dsaEncoding === undefined
        ? keyObject
        : { key: keyObject, dsaEncoding: algorithm.dsaEncoding },
      Buffer.from(encodedSignature, "base64url"),
    );
  } catch {
    return undefined;
  }
  if (!verified) return undefined;
  const claims = jsonObject(encodedPayload);
  if (claims === undefined || !claimsAcceptable(claims, options)) return undefined;
  return claims as IDToken;
}

/** The admitted header when the options allow its `alg`; else undefined. */
function admittedHeader(
  encodedHeader: string,
  options: JWTVerifyOptions,
): AdmittedHeader | undefined {
  const header = admittedHeaderText(encodedHeader);
  return header !== undefined && (options.algorithms as string[]).includes(header.alg)
    ? header
    : undefined;
}

/**
 * The header segment's `alg` and `kid` when it is a JSON object of at most
 * `alg`, `kid` and `typ`, with `alg` exactly one of `FAST_ALGORITHMS` and
 * string `kid` and `typ`; else undefined. Remembered by the segment's text,
 * which alone decides it.
 */
function admittedHeaderText(encodedHeader: string): AdmittedHeader | undefined {
  const known = admittedHeaders.get(encodedHeader);
  if (known !== undefined) return known;
  const header = encodedHeader === "" ? undefined : jsonObject(encodedHeader);
  if (header === undefined || typeof header.alg !== "string") return undefined;
  const algorithm = FAST_ALGORITHMS.get(header.alg);
  if (algorithm === undefined) return undefined;
  for (const name of Object.keys(header)) if (!HEADER_NAMES.has(name)) return undefined;
  if (header.kid !== undefined && typeof header.kid !== "string") return undefined;
  if (header.typ !== undefined && typeof header.typ !== "string") return undefined;
  const admitted: AdmittedHeader = Object.freeze({ alg: header.alg, kid: header.kid, algorithm });
  if (admittedHeaders.size >= MAX_ADMITTED_HEADERS) admittedHeaders.clear();
  admittedHeaders.set(encodedHeader, admitted);
  return admitted;
}

function usableOptions(options: JWTVerifyOptions): boolean {
  let verdict = optionVerdicts.get(options);
  if (verdict === undefined) {
    verdict = judgeOptions(options);
    optionVerdicts.set(options, verdict);
  }
  return verdict;
}

function judgeOptions(options: JWTVerifyOptions): boolean {
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name) && options[name as keyof JWTVerifyOptions] !== undefined) {
      return false;
    }
  }
  const { algorithms, clockTolerance } = options;
  return (
    Array.isArray(algorithms) &&
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

/**
 * A JSON object from a base64url segment of strict UTF-8, as jose parses
 * headers and claims (TextDecoder, which drops one leading byte-order
 * mark); undefined otherwise. Node's UTF-8 decoding puts U+FFFD where the
 * bytes are not UTF-8: any U+FFFD sends the token to jose, which decides.
 */
function jsonObject(segment: string): Record<string, unknown> | undefined {
  let text = Buffer.from(segment, "base64url").toString("utf8");
  if (text.includes("\uFFFD")) return undefined;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The `KeyObject` of a public CryptoKey that jose would verify `algorithm` with. */
function keyObjectFor(
  key: unknown,
  algorithm: FastAlgorithm,
  node: NodeCrypto,
): KeyObject | undefined {
  if (!(key instanceof CryptoKey)) return undefined;
  const known = admittedKeys.get(key);
  if (known !== undefined) return known.algorithm === algorithm ? known.keyObject : undefined;
  if (key.type !== "public" || !key.usages.includes("verify")) return undefined;
  if (!algorithm.admitsKey(key.algorithm)) return undefined;
  let keyObject: KeyObject;
  try {
    keyObject = node.KeyObject.from(key);
  } catch {
    return undefined; // jose then decides, and refuses
  }
  admittedKeys.set(key, { keyObject, algorithm });
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
