/**
 * The Node.js RS256 fast path (src/core/fast-verify.ts) only ever accepts
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
  FlattenedSign,
  generateKeyPair,
  type JWTVerifyOptions,
  jwtVerify,
  SignJWT,
} from "jose";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { verifyJwt, verifyOptions } from "../src/core/bearer.ts";
import { AuthError } from "../src/core/errors.ts";
import { fastVerify, setFastVerify } from "../src/core/fast-verify.ts";
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
        validClaims(idp, { iat: now - 4000, exp: now - 31 }),
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
