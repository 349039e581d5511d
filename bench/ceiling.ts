/**
 * The signature's own cost, the ceiling of a first-seen token (issue 15):
 * per algorithm (RS256, ES256, EdDSA), in one process pinned to the server
 * core, µs per operation over 1,000 distinct tokens:
 * - `node:crypto`'s `verify` alone (the signing input and signature already
 *   decoded, the key imported once);
 * - the core's bearer check as the guards run it with the cache off
 *   (`verifyJwtNow`, else `verifyJwt`), from the `Authorization` value;
 * - jose's `jwtVerify` with a local JWKS.
 * Prints one JSON line: `CeilingResult`.
 *
 *   taskset -c 0 node --import tsx bench/ceiling.ts [rounds]
 */
import { createPublicKey, verify } from "node:crypto";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { bearerToken, verifyJwt, verifyJwtNow, verifyOptions } from "../src/core/bearer.ts";
import { RefreshingKeySet } from "../src/core/keyset.ts";
import { nodeCryptoLoaded } from "../src/core/node-crypto.ts";
import { median } from "./common.ts";

export const CEILING_ALGS = ["RS256", "ES256", "EdDSA"] as const;
export type CeilingAlg = (typeof CEILING_ALGS)[number];

export interface CeilingRow {
  alg: CeilingAlg;
  /** µs per `crypto.verify`. */
  cryptoVerify: number;
  /** µs per bearer check of a first-seen token (cache off). */
  ours: number;
  /** µs per jose `jwtVerify`. */
  jose: number;
}

export type CeilingResult = CeilingRow[];

const ISSUER = "https://idp.example.org";
const AUDIENCE = "bench-api";
const TOKENS = 1000;

/** Node's digest name and signature encoding per JWS algorithm (RFC 7518 §3.3, §3.4; RFC 8037 §3.1). */
const NODE_VERIFY: Record<CeilingAlg, { digest: string | null; dsaEncoding?: "ieee-p1363" }> = {
  RS256: { digest: "sha256" },
  ES256: { digest: "sha256", dsaEncoding: "ieee-p1363" },
  EdDSA: { digest: null },
};

async function measureAlg(alg: CeilingAlg, rounds: number): Promise<CeilingRow> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg, use: "sig" };
  const jwks = { keys: [jwk] };
  const now = Math.floor(Date.now() / 1000);
  const tokens = await Promise.all(
    Array.from({ length: TOKENS }, (_, i) =>
      new SignJWT({ scope: "openid profile", realm_access: { roles: ["user"] } })
        .setProtectedHeader({ alg, kid: "k1", typ: "JWT" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(`user-${i}`)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .setJti(`c-${i}`)
        .sign(privateKey),
    ),
  );
  const headers = tokens.map((token) => `Bearer ${token}`);
  const keyObject = createPublicKey({ key: jwk, format: "jwk" });
  const { digest, dsaEncoding } = NODE_VERIFY[alg];
  const key = dsaEncoding === undefined ? keyObject : { key: keyObject, dsaEncoding };
  const decoded = tokens.map((token) => {
    const dot = token.lastIndexOf(".");
    return {
      input: Buffer.from(token.slice(0, dot), "latin1"),
      signature: Buffer.from(token.slice(dot + 1), "base64url"),
    };
  });
  const keys = new RefreshingKeySet(async () => jwks, { cooldownMs: 1000, maxAgeMs: 3_600_000 });
  const options = verifyOptions({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: [alg],
    clockTolerance: 30,
  });
  // As the guards call it: a promise only when the synchronous check cannot answer.
  const ours = (authorization: string) => {
    const token = bearerToken(authorization) as string;
    return verifyJwtNow(token, keys, options) ?? verifyJwt(token, keys.getKey, options);
  };
  const local = createLocalJWKSet(jwks);
  const jose = (authorization: string) =>
    jwtVerify(authorization.slice(7), local, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: [alg],
    });
  const samples: Record<"cryptoVerify" | "ours" | "jose", number[]> = {
    cryptoVerify: [],
    ours: [],
    jose: [],
  };
  const perOp = async (fn: (i: number) => unknown, n: number) => {
    const started = performance.now();
    for (let i = 0; i < n; i++) await fn(i % TOKENS);
    return ((performance.now() - started) * 1000) / n;
  };
  const n = alg === "RS256" ? 4000 : 3000;
  // Warm-up, then the three alternate within every round.
  await perOp((i) => ours(headers[i] as string), 2000);
  await perOp((i) => jose(headers[i] as string), 1000);
  for (let round = 0; round < rounds; round++) {
    samples.cryptoVerify.push(
      await perOp((i) => {
        const { input, signature } = decoded[i] as (typeof decoded)[number];
        if (!verify(digest, input, key, signature)) throw new Error("bad signature");
      }, n),
    );
    samples.ours.push(await perOp((i) => ours(headers[i] as string), n));
    samples.jose.push(await perOp((i) => jose(headers[i] as string), n));
  }
  return {
    alg,
    cryptoVerify: median(samples.cryptoVerify),
    ours: median(samples.ours),
    jose: median(samples.jose),
  };
}

export async function measureCeiling(rounds: number): Promise<CeilingResult> {
  await nodeCryptoLoaded();
  const rows: CeilingRow[] = [];
  for (const alg of CEILING_ALGS) rows.push(await measureAlg(alg, rounds));
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await measureCeiling(Number(process.argv[2] ?? 5)))}\n`);
}
