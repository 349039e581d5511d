/**
 * Issue 15: the fast paths' verdicts equal jose's on a randomized corpus,
 * for each algorithm they cover (RS256, ES256, EdDSA). Genuine tokens are
 * mutated in every segment, thousands of times, both as sent (the signature
 * no longer matches) and re-signed with the issuer's key (so the mutation
 * reaches the header and claims checks). The issuer's JWKS holds a key of
 * every algorithm, so an `alg` edited to another one names a real key of
 * the wrong type. For every token: whatever `fastVerify` or `fastVerifyNow`
 * accepts, jose accepts with equal claims, and `verifyJwt` (which picks the
 * path) agrees with jose behind the canonical-spelling check. The seed is
 * printed, and FAST_VERIFY_SEED reproduces a run.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  base64url,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  SignJWT,
} from "jose";
import { verifyJwt, verifyJwtNow, verifyOptions } from "../src/core/bearer.ts";
import { canonicalSegments, fastVerify, fastVerifyNow } from "../src/core/fast-verify.ts";
import { RefreshingKeySet } from "../src/core/keyset.ts";
import { nodeCryptoLoaded } from "../src/core/node-crypto.ts";
import { ASYMMETRIC_ALGORITHMS } from "../src/core/options.ts";

const ALPHABET = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"];
const FOREIGN = ["=", "+", "/", " ", ".", "~", "\n", "é", "%"];
const UNSIGNED_CASES = 4000;
const SIGNED_CASES = 600;
const ISSUER = "https://issuer.example.org";
const AUDIENCE = "fast-verify-api";
/** P-256's group order: s and n − s are both valid ECDSA signatures of one message. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

type FastAlg = "RS256" | "ES256" | "EdDSA";
const SIGNING: Record<FastAlg, AlgorithmIdentifier | EcdsaParams> = {
  RS256: "RSASSA-PKCS1-v1_5",
  ES256: { name: "ECDSA", hash: "SHA-256" },
  EdDSA: "Ed25519",
};

interface IssuerKey {
  alg: FastAlg;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** mulberry32: a small seeded generator, so that a failing corpus can be rebuilt. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function validClaims(extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "fast-verify-subject",
    iat: now,
    exp: now + 300,
    scope: "openid profile",
    ...extra,
  };
}

describe("fast paths against jose, randomized", () => {
  const issuerKeys = new Map<FastAlg, IssuerKey>();
  let keys: RefreshingKeySet;
  let options: JWTVerifyOptions;
  const seed = Number(process.env.FAST_VERIFY_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = generator(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const integer = (below: number) => Math.floor(random() * below);
  const encoder = new TextEncoder();

  before(async () => {
    process.stdout.write(`# FAST_VERIFY_SEED=${seed}\n`);
    for (const alg of Object.keys(SIGNING) as FastAlg[]) {
      const pair = await generateKeyPair(alg, { extractable: true });
      const kid = `${alg.toLowerCase()}-key`;
      const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
      issuerKeys.set(alg, { alg, kid, privateKey: pair.privateKey, publicJwk });
    }
    // The key set as the guards hold it, served from memory (nothing here needs a network).
    const jwks: JSONWebKeySet = { keys: [...issuerKeys.values()].map((key) => key.publicJwk) };
    keys = new RefreshingKeySet(async () => jwks, { cooldownMs: 0, maxAgeMs: 600_000 });
    options = verifyOptions({
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: 30,
    });
    assert.ok(await nodeCryptoLoaded());
  });

  const keyOf = (alg: FastAlg) => issuerKeys.get(alg) as IssuerKey;

  function genuineToken(alg: FastAlg, claims: JWTPayload): Promise<string> {
    const { kid, privateKey } = keyOf(alg);
    return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(privateKey);
  }

  /** A segment with one random edit: a character changed, inserted, removed, or a foreign one. */
  function mutateSegment(segment: string): string {
    const at = integer(segment.length + 1);
    switch (integer(6)) {
      case 0:
        return segment.slice(0, at) + pick(ALPHABET) + segment.slice(at + 1);
      case 1:
        return segment.slice(0, at) + pick(ALPHABET) + segment.slice(at);
      case 2:
        return segment.slice(0, at) + segment.slice(at + 1);
      case 3:
        return segment.slice(0, at) + pick(FOREIGN) + segment.slice(at);
      case 4:
        return segment.slice(0, integer(segment.length + 1));
      default: {
        // The last character: the one whose unused bits decide canonical spelling.
        return segment.slice(0, -1) + pick(ALPHABET);
      }
    }
  }

  /**
   * An ECDSA signature in another form: DER (what node:crypto reads by
   * default, not JWS), or the other valid s (n − s), which both paths must
   * judge alike.
   */
  function reformedSignature(signature: string): string {
    const bytes = Buffer.from(signature, "base64url");
    const r = bytes.subarray(0, 32);
    const s = BigInt(`0x${bytes.subarray(32).toString("hex")}`);
    if (random() < 0.5) {
      const other = Buffer.from((P256_ORDER - s).toString(16).padStart(64, "0"), "hex");
      return Buffer.concat([r, other]).toString("base64url");
    }
    const integerDer = (value: Buffer) => {
      const trimmed = value.subarray(value.findIndex((byte) => byte !== 0));
      const positive =
        (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed;
      return Buffer.concat([Buffer.of(0x02, positive.length), positive]);
    };
    const sequence = Buffer.concat([integerDer(r), integerDer(bytes.subarray(32))]);
    return Buffer.concat([Buffer.of(0x30, sequence.length), sequence]).toString("base64url");
  }

  /** A genuine token mutated as sent: one segment (or the structure) edited, never re-signed. */
  function mutateToken(token: string, others: readonly string[], alg: FastAlg): string {
    const segments = token.split(".");
    const other = pick(others).split(".");
    const index = integer(3);
    if (alg === "ES256" && random() < 0.1) {
      segments[2] = reformedSignature(segments[2] as string);
      return segments.join(".");
    }
    switch (integer(5)) {
      case 0:
      case 1:
      case 2:
        segments[index] = mutateSegment(segments[index] as string);
        return segments.join(".");
      case 3:
        // Another genuine token's segment: signature over other bytes.
        segments[index] = other[index] as string;
        return segments.join(".");
      default:
        return pick([
          `${token}.`,
          `${token}.${segments[2]}`,
          segments.slice(0, 2).join("."),
          `.${token}`,
          `${segments[1]}.${segments[0]}.${segments[2]}`,
          token.replace(".", ".."),
        ]);
    }
  }

  /** Header and claims texts edited in their meaning, then signed with the issuer's key. */
  async function signedMutation(alg: FastAlg): Promise<string> {
    const { kid, privateKey } = keyOf(alg);
    const now = Math.floor(Date.now() / 1000);
    const header: Record<string, unknown> = { alg, kid, typ: "JWT" };
    const claims: Record<string, unknown> = validClaims({ jti: `j${integer(1e6)}` });
    const otherKids = [...issuerKeys.values()].map((key) => key.kid);
    const headerEdits: Array<() => void> = [
      () => delete header.kid,
      () => delete header.typ,
      () => {
        header.kid = pick([`${kid}x`, "", 7, null, [kid], ...otherKids]);
      },
      () => {
        header.alg = pick([
          ...["RS256", "RS384", "rs256", "PS256", "ES256", "ES384", "es256"],
          ...["EdDSA", "Ed25519", "ed25519", "none", 256, ""],
        ]);
      },
      () => {
        header.typ = pick(["at+jwt", 1, null, ""]);
      },
      () => {
        header[pick(["crit", "b64", "jku", "jwk", "x5u", "x5c", "cty", "zip", "extra"])] = pick([
          ["kid"],
          false,
          "https://evil.example.org",
          {},
          1,
        ]);
      },
    ];
    const claimEdits: Array<() => void> = [
      () => {
        claims.exp = pick([now - 31, now - 30, now - 29, now, `${now + 60}`, null, 1e300]);
      },
      () => delete claims[pick(["exp", "sub", "iss", "aud", "iat"])],
      () => {
        claims.nbf = pick([now + 29, now + 31, now + 3600, now - 5, "now", null]);
      },
      () => {
        claims.iat = pick([now + 3600, "x", null, -1, 1.5]);
      },
      () => {
        claims.aud = pick([
          "another-api",
          [AUDIENCE],
          ["x", AUDIENCE],
          ["x"],
          [],
          7,
          AUDIENCE.toUpperCase(),
        ]);
      },
      () => {
        claims.iss = pick([`${ISSUER}/`, [ISSUER], "", null, ISSUER.toUpperCase()]);
      },
      () => {
        claims.sub = pick(["", 7, null, ["a"], { id: 1 }, "ok"]);
      },
    ];
    const edits = 1 + integer(2);
    for (let i = 0; i < edits; i++) {
      if (random() < 0.4) pick(headerEdits)();
      else pick(claimEdits)();
    }
    let headerText = JSON.stringify(header);
    let claimsText = JSON.stringify(claims);
    // Texts jose still reads: a byte-order mark, a duplicate key, whitespace, a non-object.
    if (random() < 0.15) claimsText = pick([`\uFEFF${claimsText}`, ` ${claimsText} `, "[1]", "1"]);
    if (random() < 0.1)
      headerText = headerText.replace(
        /}$/,
        `,"alg":"${pick(["none", "RS256", "ES256", "EdDSA"])}"}`,
      );
    if (random() < 0.1) claimsText = claimsText.replace(/}$/, `,"exp":${now - 3600}}`);
    const input = `${base64url.encode(headerText)}.${base64url.encode(claimsText)}`;
    const signature = await crypto.subtle.sign(SIGNING[alg], privateKey, encoder.encode(input));
    return `${input}.${base64url.encode(new Uint8Array(signature))}`;
  }

  interface Tally {
    fastAccepted: number;
    nowAccepted: number;
    joseAccepted: number;
  }

  /** One token through every path; fails the test at the first disagreement. */
  async function compare(token: string, tally: Tally): Promise<void> {
    let jose: Record<string, unknown> | undefined;
    try {
      jose = (await jwtVerify(token, keys.getKey, options)).payload;
    } catch {
      jose = undefined;
    }
    const canonical = canonicalSegments(token);
    if (jose !== undefined) tally.joseAccepted += 1;
    const fast = await fastVerify(token, keys.getKey, options);
    if (fast !== undefined) {
      tally.fastAccepted += 1;
      assert.ok(jose !== undefined, `fastVerify accepts what jose refuses: ${token}`);
      assert.deepEqual(fast, jose, token);
    }
    const now =
      canonical === undefined ? undefined : fastVerifyNow(token, canonical, keys, options);
    if (now !== undefined) {
      tally.nowAccepted += 1;
      assert.ok(jose !== undefined, `fastVerifyNow accepts what jose refuses: ${token}`);
      assert.deepEqual(now.claims, jose, token);
    }
    const fromGuardPath = verifyJwtNow(token, keys, options);
    if (fromGuardPath !== undefined) assert.deepEqual(fromGuardPath, jose, token);
    // verifyJwt: jose's verdict, behind one accepted spelling and a string sub.
    const expected =
      jose !== undefined &&
      canonical !== undefined &&
      typeof jose.sub === "string" &&
      jose.sub !== ""
        ? jose
        : undefined;
    const full = await verifyJwt(token, keys.getKey, options).catch(() => undefined);
    assert.deepEqual(full, expected, token);
  }

  for (const alg of Object.keys(SIGNING) as FastAlg[]) {
    describe(alg, () => {
      it(`agrees with jose on ${UNSIGNED_CASES} tokens mutated as sent`, async () => {
        const genuine: string[] = [];
        for (let i = 0; i < 8; i++) {
          genuine.push(await genuineToken(alg, validClaims({ jti: "x".repeat(i) })));
        }
        const tally: Tally = { fastAccepted: 0, nowAccepted: 0, joseAccepted: 0 };
        for (const token of genuine) await compare(token, tally);
        // Genuine tokens: both fast paths take them, so the corpus tests them and not jose alone.
        assert.equal(tally.fastAccepted, genuine.length);
        assert.equal(tally.nowAccepted, genuine.length);
        for (let i = 0; i < UNSIGNED_CASES; i++) {
          await compare(mutateToken(pick(genuine), genuine, alg), tally);
        }
      });

      it(`agrees with jose on ${SIGNED_CASES} re-signed tokens with edited headers and claims`, async () => {
        const tally: Tally = { fastAccepted: 0, nowAccepted: 0, joseAccepted: 0 };
        for (let i = 0; i < SIGNED_CASES; i++) await compare(await signedMutation(alg), tally);
        // Some edits keep the token valid (e.g. no typ, an audience list): those reach the fast
        // paths' acceptance, the others their refusals.
        assert.ok(tally.fastAccepted > 0 && tally.nowAccepted > 0, JSON.stringify(tally));
        assert.ok(tally.joseAccepted < SIGNED_CASES, JSON.stringify(tally));
      });
    });
  }
});
