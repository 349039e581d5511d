/**
 * The Node.js fast path (src/core/fast-verify.ts) only ever accepts
 * what jose accepts, with the same claims: every forged token of the
 * conformance suite and the attacks aimed at a hand-written verifier (alg
 * confusion, `none`, `crit`, `b64: false`, `kid` tricks, duplicate JSON keys,
 * odd base64url, odd JSON) go to jose, which refuses them; genuine tokens,
 * Keycloak's header spacing included, are accepted by both alike.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  base64url,
  CompactSign,
  exportJWK,
  FlattenedSign,
  generateKeyPair,
  type JWK,
  type JWTVerifyOptions,
  jwtVerify,
  SignJWT,
} from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { verifyJwt, verifyOptions } from "../src/core/bearer.ts";
import { AuthError } from "../src/core/errors.ts";
import { canonicalSegments, fastVerify, setFastVerify } from "../src/core/fast-verify.ts";
import { fetchJwks, RefreshingKeySet } from "../src/core/keyset.ts";
import { nodeCryptoLoaded } from "../src/core/node-crypto.ts";
import { ASYMMETRIC_ALGORITHMS } from "../src/core/options.ts";
import { forgedTokens, signWithIdpKey, validClaims } from "./helpers/forge.ts";

describe("RS256 fast path", () => {
  let idp: DevIdp;
  let keys: RefreshingKeySet;
  let options: JWTVerifyOptions;
  const encoder = new TextEncoder();
  const b64 = (text: string) => base64url.encode(text);

  before(async () => {
    idp = await startDevIdp();
    keys = new RefreshingKeySet(() => fetchJwks(new URL(`${idp.issuer}/jwks`), 5000), {
      cooldownMs: 0,
      maxAgeMs: 600_000,
    });
    options = verifyOptions({
      issuer: idp.issuer,
      audience: idp.audience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: 30,
    });
    assert.ok(await nodeCryptoLoaded(), "node:crypto loads on Node.js");
  });

  after(async () => {
    setFastVerify(true);
    await idp.stop();
  });

  /** What jose says, and what the fast path says, about one token. */
  async function bothPaths(token: string) {
    const fast = await fastVerify(token, keys.getKey, options);
    let jose: Record<string, unknown> | Error;
    try {
      jose = (await jwtVerify(token, keys.getKey, options)).payload;
    } catch (error) {
      jose = error as Error;
    }
    return { fast, jose };
  }

  async function assertRefused(name: string, token: string): Promise<void> {
    const { fast, jose } = await bothPaths(token);
    assert.ok(jose instanceof Error, `${name}: jose refuses it`);
    assert.equal(fast, undefined, `${name}: the fast path leaves it to jose`);
    await assert.rejects(
      verifyJwt(token, keys.getKey, options),
      (error: unknown) => error instanceof AuthError && error.status === 401,
      name,
    );
  }

  async function assertAcceptedAlike(name: string, token: string): Promise<void> {
    const { fast, jose } = await bothPaths(token);
    assert.ok(!(jose instanceof Error), `${name}: jose accepts it (${String(jose)})`);
    assert.ok(fast !== undefined, `${name}: the fast path accepts it`);
    assert.deepEqual(fast, jose, name);
  }

  const signCompact = (header: object, payload: string | Uint8Array) =>
    new CompactSign(typeof payload === "string" ? encoder.encode(payload) : payload)
      .setProtectedHeader(header as { alg: string })
      .sign(idp.signingKey().privateKey);

  /** A token over exactly these header and payload texts, signed with the IdP's key. */
  async function signRaw(headerJson: string, payloadJson: string): Promise<string> {
    const input = `${b64(headerJson)}.${b64(payloadJson)}`;
    const signature = await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      idp.signingKey().privateKey,
      encoder.encode(input),
    );
    return `${input}.${base64url.encode(new Uint8Array(signature))}`;
  }

  it("accepts genuine RS256 tokens exactly as jose does", async () => {
    const { kid } = idp.signingKey();
    await assertAcceptedAlike("plain", await signWithIdpKey(idp, validClaims(idp)));
    await assertAcceptedAlike(
      "audience in a list",
      await signWithIdpKey(idp, validClaims(idp, { aud: ["other", idp.audience] })),
    );
    // Keycloak writes its header with spaces around the colons.
    await assertAcceptedAlike(
      "Keycloak header spacing",
      await signRaw(
        `{"alg":"RS256","typ" : "JWT","kid" : "${kid}"}`,
        JSON.stringify(validClaims(idp)),
      ),
    );
    const now = Math.floor(Date.now() / 1000);
    await assertAcceptedAlike(
      "expired, but within the clock tolerance",
      await signWithIdpKey(idp, validClaims(idp, { iat: now - 100, exp: now - 10 })),
    );
    await assertAcceptedAlike(
      "a byte-order mark before the claims",
      await signCompact({ alg: "RS256", kid }, `\uFEFF${JSON.stringify(validClaims(idp))}`),
    );
    await assertAcceptedAlike(
      "duplicate aud, the right one last",
      await signCompact(
        { alg: "RS256", kid },
        JSON.stringify(validClaims(idp, { aud: "another-api" })).replace(
          /}$/,
          `,"aud":"${idp.audience}"}`,
        ),
      ),
    );
  });

  it("leaves every forged token of the conformance suite to jose, which refuses it", async () => {
    for (const [name, token] of Object.entries(await forgedTokens(idp))) {
      await assertRefused(name, token);
    }
  });

  it("leaves tokens aimed at a hand-written verifier to jose, which refuses them", async () => {
    const { kid } = idp.signingKey();
    const claims = JSON.stringify(validClaims(idp));
    const genuine = await signWithIdpKey(idp, validClaims(idp));
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const now = Math.floor(Date.now() / 1000);
    const stranger = await generateKeyPair("RS256");
    const attacks: Record<string, string> = {
      "signature with base64 padding": `${header}.${payload}.${signature}=`,
      "signature in standard base64": `${header}.${payload}.${signature.replace(/-/g, "+").replace(/_/g, "/")}`,
      "a segment of impossible length": `${header}.${payload}.${signature}A`,
      "four segments": `${genuine}.${signature}`,
      "whitespace in the payload": `${header}.${payload.slice(0, 10)} ${payload.slice(10)}.${signature}`,
      "alg in lower case (genuine key)": await signRaw(`{"alg":"rs256","kid":"${kid}"}`, claims),
      "alg RS384 over an RS256 key": `${b64(`{"alg":"RS384","kid":"${kid}"}`)}.${payload}.${signature}`,
      "crit naming a standard header (genuine key)": await signRaw(
        `{"alg":"RS256","kid":"${kid}","crit":["kid"]}`,
        claims,
      ),
      "crit empty (genuine key)": await signRaw(`{"alg":"RS256","kid":"${kid}","crit":[]}`, claims),
      "jku to the attacker's keys": await new SignJWT(validClaims(idp))
        .setProtectedHeader({ alg: "RS256", kid, jku: "https://evil.example.org/jwks" })
        .sign(stranger.privateKey),
      "x5u to the attacker's certificate": await new SignJWT(validClaims(idp))
        .setProtectedHeader({ alg: "RS256", kid, x5u: "https://evil.example.org/cert" })
        .sign(stranger.privateKey),
      "kid as an array": `${b64(`{"alg":"RS256","kid":["${kid}"]}`)}.${payload}.${signature}`,
      "header is an array": `${b64(`["RS256"]`)}.${payload}.${signature}`,
      "payload is an array (genuine key)": await signCompact({ alg: "RS256", kid }, "[1,2]"),
      "payload is not UTF-8 (genuine key)": await signCompact(
        { alg: "RS256", kid },
        new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      ),
      "payload is not JSON (genuine key)": await signCompact({ alg: "RS256", kid }, "{sub:1}"),
      "iat not a number (genuine key)": await signWithIdpKey(
        idp,
        validClaims(idp, { iat: "yesterday" as unknown as number }),
      ),
      "exp not a number (genuine key)": await signWithIdpKey(
        idp,
        validClaims(idp, { exp: `${now + 300}` as unknown as number }),
      ),
      "no exp (genuine key)": await signCompact(
        { alg: "RS256", kid },
        JSON.stringify({ ...validClaims(idp), exp: undefined }),
      ),
      "no sub (genuine key)": await signCompact(
        { alg: "RS256", kid },
        JSON.stringify({ ...validClaims(idp), sub: undefined }),
      ),
      "aud list without ours (genuine key)": await signWithIdpKey(
        idp,
        validClaims(idp, { aud: ["a", "b"] }),
      ),
      "iss in a list (genuine key)": await signWithIdpKey(
        idp,
        validClaims(idp, { iss: [idp.issuer] as unknown as string }),
      ),
      "expired past the tolerance (genuine key)": await signWithIdpKey(
        idp,
        validClaims(idp, { iat: now - 4000, exp: now - 45 }),
      ),
      "not yet valid past the tolerance (genuine key)": await signWithIdpKey(
        idp,
        // Well past the 30 s tolerance: nbf now + 31 is accepted once the second turns over.
        validClaims(idp, { nbf: now + 60 }),
      ),
      "duplicate alg, none last (genuine key)": await signRaw(
        `{"alg":"RS256","kid":"${kid}","alg":"none"}`,
        claims,
      ),
      "duplicate alg, RS384 last (genuine key)": await signRaw(
        `{"alg":"RS256","kid":"${kid}","alg":"RS384"}`,
        claims,
      ),
      "duplicate kid, the wrong one last (genuine key)": await signRaw(
        `{"alg":"RS256","kid":"${kid}","kid":"other"}`,
        claims,
      ),
      "alg RS256 as a unicode escape duplicate (genuine key)": await signRaw(
        `{"alg":"RS256","kid":"${kid}","\u0061lg":"none"}`,
        claims,
      ),
      "duplicate exp, an expired one last (genuine key)": await signCompact(
        { alg: "RS256", kid },
        claims.replace(/}$/, `,"exp":${now - 3600}}`),
      ),
      "b64 false with the payload's text signed (genuine key)": await (async () => {
        const jws = await new FlattenedSign(encoder.encode(payload))
          .setProtectedHeader({ alg: "RS256", kid, b64: false, crit: ["b64"] })
          .sign(idp.signingKey().privateKey);
        return `${jws.protected}.${jws.payload}.${jws.signature}`;
      })(),
      "HS256 with the public key as secret": await new SignJWT(validClaims(idp))
        .setProtectedHeader({ alg: "HS256", kid })
        .sign(encoder.encode(JSON.stringify(idp.signingKey().publicJwk))),
    };
    for (const [name, token] of Object.entries(attacks)) await assertRefused(name, token);
  });

  it("steps aside for options it does not check itself, and when switched off", async () => {
    const token = await signWithIdpKey(idp, validClaims(idp));
    assert.ok(await fastVerify(token, keys.getKey, options));
    assert.equal(await fastVerify(token, keys.getKey, { ...options, maxTokenAge: 60 }), undefined);
    assert.equal(await fastVerify(token, keys.getKey, { ...options, typ: "JWT" }), undefined);
    assert.equal(
      await fastVerify(token, keys.getKey, { ...options, algorithms: ["ES256"] }),
      undefined,
    );
    setFastVerify(false);
    assert.equal(await fastVerify(token, keys.getKey, options), undefined);
    assert.equal((await verifyJwt(token, keys.getKey, options)).sub, "forged-test-subject");
    setFastVerify(true);
    assert.ok(await fastVerify(token, keys.getKey, options));
  });
});

/**
 * Issue 16: one accepted spelling per token. jose (and Node's base64url
 * decoder) read padded segments and a last character with non-zero unused
 * bits as the same bytes; `verifyJwt` refuses them before either path, and
 * the fast path refuses them on its own too. Also: `sub` must be a string.
 */
describe("canonical tokens only", () => {
  let idp: DevIdp;
  let keys: RefreshingKeySet;
  let options: JWTVerifyOptions;
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  before(async () => {
    idp = await startDevIdp();
    keys = new RefreshingKeySet(() => fetchJwks(new URL(`${idp.issuer}/jwks`), 5000), {
      cooldownMs: 0,
      maxAgeMs: 600_000,
    });
    options = verifyOptions({
      issuer: idp.issuer,
      audience: idp.audience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: 30,
    });
  });

  after(async () => {
    setFastVerify(true);
    await idp.stop();
  });

  /** The segment with its last character's unused low bits set: the same bytes to a lenient decoder. */
  function lowBitsSet(segment: string): string | undefined {
    const unused = segment.length % 4 === 2 ? 0b1111 : segment.length % 4 === 3 ? 0b11 : 0;
    if (unused === 0) return undefined;
    const last = ALPHABET.indexOf(segment.charAt(segment.length - 1));
    return segment.slice(0, -1) + ALPHABET.charAt(last | unused);
  }

  /** Every other spelling of a genuine token, by name. */
  function respellings(token: string): Record<string, string> {
    const segments = token.split(".");
    const names = ["header", "payload", "signature"];
    const variants: Record<string, string> = {};
    const withSegment = (index: number, segment: string) =>
      segments.map((s, i) => (i === index ? segment : s)).join(".");
    segments.forEach((segment, index) => {
      const name = names[index];
      variants[`${name} with =`] = withSegment(index, `${segment}=`);
      variants[`${name} with ==`] = withSegment(index, `${segment}==`);
      const altered = lowBitsSet(segment);
      if (altered !== undefined)
        variants[`${name}'s unused low bits set`] = withSegment(index, altered);
      variants[`${name} in standard base64`] = withSegment(
        index,
        Buffer.from(segment, "base64url").toString("base64"),
      );
    });
    // Standard base64 of a segment without -, _ or padding is the segment itself.
    for (const [name, variant] of Object.entries(variants)) {
      if (variant === token) delete variants[name];
    }
    return variants;
  }

  /** Claims whose header, payload and signature lengths give each segment unused bits in turn. */
  async function tokensOfEveryLength(): Promise<string[]> {
    const tokens: string[] = [];
    for (let pad = 0; pad < 3; pad++) {
      tokens.push(await signWithIdpKey(idp, validClaims(idp, { jti: "x".repeat(pad) })));
    }
    return tokens;
  }

  it("accepts genuine tokens and refuses every other spelling of them, on both paths", async () => {
    const tokens = await tokensOfEveryLength();
    const lowBitVariants = new Set<string>();
    for (const token of tokens) {
      setFastVerify(true);
      assert.ok(await fastVerify(token, keys.getKey, options), "genuine: fast path");
      for (const fast of [true, false]) {
        setFastVerify(fast);
        assert.equal((await verifyJwt(token, keys.getKey, options)).sub, "forged-test-subject");
        for (const [name, variant] of Object.entries(respellings(token))) {
          if (name.includes("low bits")) lowBitVariants.add(name);
          await assert.rejects(
            verifyJwt(variant, keys.getKey, options),
            (error: unknown) => error instanceof AuthError && error.status === 401,
            `${name}, fast path ${fast}`,
          );
          setFastVerify(true);
          assert.equal(await fastVerify(variant, keys.getKey, options), undefined, name);
          setFastVerify(fast);
        }
      }
    }
    // The RSA signature always has unused bits; the claims' lengths vary the others.
    assert.ok(lowBitVariants.has("signature's unused low bits set"));
    assert.ok(lowBitVariants.has("payload's unused low bits set"));
    setFastVerify(true);
  });

  it("canonicalSegments: alphabet, padding, impossible lengths, unused bits", () => {
    const ok = ["", "AA", "AAA", "AAAA", "QQ", "AE0", "-_-_", "abcd_w"];
    const bad = ["A", "AAAAA", "AB", "AAB", "AA==", "AAA=", "A+A/", "AA AA", "AA\n", "é"];
    for (const segment of ok) {
      assert.ok(canonicalSegments(`${segment}.${segment}.${segment}`), JSON.stringify(segment));
    }
    for (const segment of bad) {
      assert.equal(canonicalSegments(`AAAA.${segment}.AAAA`), undefined, JSON.stringify(segment));
    }
    assert.equal(canonicalSegments("AAAA.AAAA"), undefined, "two segments");
    assert.equal(canonicalSegments("AAAA.AAAA.AAAA.AAAA"), undefined, "four segments");
  });

  it("refuses a genuinely signed token whose sub is not a non-empty string, on both paths", async () => {
    for (const sub of [123, "", { id: "a" }, ["a"], null, true]) {
      const token = await signWithIdpKey(idp, validClaims(idp, { sub: sub as unknown as string }));
      for (const fast of [true, false]) {
        setFastVerify(fast);
        await assert.rejects(
          verifyJwt(token, keys.getKey, options),
          (error: unknown) =>
            error instanceof AuthError && error.status === 401 && /"sub"/.test(error.description),
          `sub ${JSON.stringify(sub)}, fast path ${fast}`,
        );
      }
    }
    setFastVerify(true);
  });
});

/**
 * The ES256 and EdDSA fast paths (issue 15): genuine tokens are accepted as
 * jose accepts them, both spellings of EdDSA included, and what would fool a
 * hand-written verifier goes to jose, which refuses it: an ECDSA signature
 * in DER form, a header naming another algorithm's key, an algorithm the
 * options do not allow. The key set holds a key of each algorithm.
 */
describe("ES256 and EdDSA fast paths", () => {
  const issuer = "https://issuer.example.org";
  const audience = "fast-verify-api";
  const pairs = new Map<string, CryptoKeyPair>();
  let keys: RefreshingKeySet;
  let options: JWTVerifyOptions;

  before(async () => {
    const jwks: JWK[] = [];
    for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      pairs.set(alg, pair);
      jwks.push({ ...(await exportJWK(pair.publicKey)), kid: alg, alg, use: "sig" });
    }
    // The same Ed25519 key under its fully-specified name, Ed25519: jose matches `alg` exactly.
    const ed25519 = (pairs.get("EdDSA") as CryptoKeyPair).publicKey;
    jwks.push({ ...(await exportJWK(ed25519)), kid: "Ed25519", alg: "Ed25519", use: "sig" });
    keys = new RefreshingKeySet(async () => ({ keys: jwks }), { cooldownMs: 0, maxAgeMs: 600_000 });
    options = verifyOptions({
      issuer,
      audience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: 30,
    });
    assert.ok(await nodeCryptoLoaded());
  });

  const claims = () => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: issuer, aud: audience, sub: "someone", iat: now, exp: now + 300 };
  };
  const sign = (alg: string, kid: string, signingAlg = alg) =>
    new SignJWT(claims())
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .sign((pairs.get(signingAlg) as CryptoKeyPair).privateKey);

  async function verdicts(token: string, verifyWith = options) {
    const fast = await fastVerify(token, keys.getKey, verifyWith);
    const jose = await jwtVerify(token, keys.getKey, verifyWith).then(
      (result) => result.payload,
      () => undefined,
    );
    return { fast, jose };
  }

  it("accepts genuine ES256, EdDSA and Ed25519 tokens exactly as jose does", async () => {
    for (const [alg, kid] of [
      ["ES256", "ES256"],
      ["EdDSA", "EdDSA"],
      ["Ed25519", "Ed25519"],
    ] as const) {
      const { fast, jose } = await verdicts(await sign(alg, kid, alg === "ES256" ? alg : "EdDSA"));
      assert.ok(jose !== undefined, `${alg}: jose accepts it`);
      assert.deepEqual(fast, jose, alg);
    }
  });

  it("leaves DER signatures, another algorithm's key and disallowed algorithms to jose", async () => {
    const es256 = await sign("ES256", "ES256");
    const [header, payload, signature] = es256.split(".") as [string, string, string];
    const raw = Buffer.from(signature, "base64url");
    const integer = (bytes: Buffer) => {
      const trimmed = bytes.subarray(bytes.findIndex((byte) => byte !== 0));
      const positive =
        (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed;
      return Buffer.concat([Buffer.of(0x02, positive.length), positive]);
    };
    const body = Buffer.concat([integer(raw.subarray(0, 32)), integer(raw.subarray(32))]);
    const der = Buffer.concat([Buffer.of(0x30, body.length), body]).toString("base64url");
    const b64 = (text: string) => base64url.encode(text);
    const attacks: Record<string, [string, JWTVerifyOptions?]> = {
      "ES256 signature in DER form": [`${header}.${payload}.${der}`],
      "ES256 header naming the Ed25519 key": [await sign("ES256", "EdDSA", "ES256")],
      "EdDSA header naming the P-256 key": [await sign("EdDSA", "ES256", "EdDSA")],
      "EdDSA header over an ES256 signature": [
        `${b64('{"alg":"EdDSA","kid":"EdDSA"}')}.${payload}.${signature}`,
      ],
      "ES256 when only RS256 is allowed": [es256, { ...options, algorithms: ["RS256"] }],
      "EdDSA when only ES256 is allowed": [
        await sign("EdDSA", "EdDSA"),
        { ...options, algorithms: ["ES256"] },
      ],
    };
    for (const [name, [token, verifyWith]] of Object.entries(attacks)) {
      const { fast, jose } = await verdicts(token, verifyWith);
      assert.equal(jose, undefined, `${name}: jose refuses it`);
      assert.equal(fast, undefined, `${name}: the fast path leaves it to jose`);
    }
  });
});
