/**
 * The refreshing key set (src/core/keyset.ts) against a real JWKS endpoint
 * on loopback whose keys each test sets (issue 16): keys jose refuses are a
 * 401, never a 500; a withdrawn key stops verifying, cached or not, once its
 * key set's copy is older than the maximum age; a rotated-in key is accepted
 * within a few attempts 250 ms apart under a flood of made-up `kid`s, while
 * the endpoint sees about one fetch a second. Counts and attempts, no
 * CPU-speed timing.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  base64url,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyOptions,
  SignJWT,
} from "jose";
import { verifyJwt, verifyOptions } from "../src/core/bearer.ts";
import { AuthError } from "../src/core/errors.ts";
import { fastVerify, setFastVerify } from "../src/core/fast-verify.ts";
import { fetchJwks, keyRemovalEpoch, RefreshingKeySet } from "../src/core/keyset.ts";
import { TokenCache } from "../src/core/token-cache.ts";
import { listen, type RunningApp } from "./helpers/servers.ts";

const ISSUER = "https://idp.example.org";
const AUDIENCE = "api";
const OPTIONS: JWTVerifyOptions = verifyOptions({
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ["RS256", "ES256", "PS256", "EdDSA", "Ed25519"],
  clockTolerance: 30,
});
/** The library's defaults (options.ts): a 30 s cooldown and a 10 minute maximum age. */
const DEFAULT_TIMING = { cooldownMs: 30_000, maxAgeMs: 600_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A JWKS endpoint on loopback: serves what `keys` holds (or fails), counts fetches. */
interface KeyServer {
  url: URL;
  keys: JWK[];
  failing: boolean;
  fetches: number;
  close(): Promise<void>;
}

async function startKeyServer(keys: JWK[] = []): Promise<KeyServer> {
  let app: RunningApp | undefined;
  const state: KeyServer = {
    url: new URL("http://127.0.0.1/"),
    keys,
    failing: false,
    fetches: 0,
    close: () => app?.close() ?? Promise.resolve(),
  };
  app = await listen(
    createServer((_request, response) => {
      state.fetches += 1;
      if (state.failing) {
        response.writeHead(500).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys: state.keys } satisfies JSONWebKeySet));
    }),
  );
  state.url = new URL(`${app.url}/jwks`);
  return state;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newSigningKey(): Promise<SigningKey> {
  const kid = randomUUID();
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256" } };
}

const claims = () => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: "user-1",
  iat: Math.floor(Date.now() / 1000),
  exp: Math.floor(Date.now() / 1000) + 300,
});

function sign(key: SigningKey): Promise<string> {
  return new SignJWT(claims())
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
    .sign(key.privateKey);
}

/** A token whose header names `kid` and whose signature is random bytes. */
function forgedFor(kid: string, alg = "RS256", signatureBytes = 256): string {
  const header = base64url.encode(JSON.stringify({ alg, kid, typ: "JWT" }));
  const payload = base64url.encode(JSON.stringify(claims()));
  return `${header}.${payload}.${base64url.encode(randomBytes(signatureBytes))}`;
}

/** The status verifyJwt answers with: 200, or the AuthError's; anything else fails the test. */
async function statusOf(token: string, keys: RefreshingKeySet["getKey"]): Promise<number> {
  try {
    await verifyJwt(token, keys, OPTIONS);
    return 200;
  } catch (error) {
    if (error instanceof AuthError) return error.status;
    throw error;
  }
}

/** Public JWKs that jose refuses to verify with, each under its own kid. */
async function unusableKeys(): Promise<Record<string, JWK>> {
  const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({
    format: "jwk",
  }) as JWK;
  const ec = await exportJWK((await generateKeyPair("ES256")).publicKey);
  const offCurve = { ...ec, x: base64url.encode(new Uint8Array(32)) };
  return {
    "rsa-1024": { ...weak, kid: "rsa-1024", alg: "RS256" },
    "rsa-1024-no-alg": { ...weak, kid: "rsa-1024-no-alg" },
    "ec-off-curve": { ...offCurve, kid: "ec-off-curve", alg: "ES256" },
    "ec-off-curve-no-alg": { ...offCurve, kid: "ec-off-curve-no-alg" },
    "ec-short-x": { ...ec, x: "AAAA", kid: "ec-short-x", alg: "ES256" },
    "rsa-no-modulus": { kty: "RSA", e: "AQAB", kid: "rsa-no-modulus", alg: "RS256" },
  };
}

/** The algorithm a forged token names for each unusable key, and its signature size. */
const FORGED_AS: Record<string, [string, number]> = {
  "rsa-1024": ["RS256", 128],
  "rsa-1024-no-alg": ["RS256", 128],
  "ec-off-curve": ["ES256", 64],
  "ec-off-curve-no-alg": ["ES256", 64],
  "ec-short-x": ["ES256", 64],
  "rsa-no-modulus": ["RS256", 256],
};

describe("key set: keys jose refuses", () => {
  let good: SigningKey;
  let bad: Record<string, JWK>;
  let server: KeyServer;

  before(async () => {
    good = await newSigningKey();
    bad = await unusableKeys();
    server = await startKeyServer([good.jwk, ...Object.values(bad)]);
  });

  after(async () => {
    setFastVerify(true);
    await server.close();
  });

  it("answers 401 for a token naming such a key, on both paths, even when the key is not filtered", async () => {
    // A jose key set over the raw JWKS: verifyJwt itself must map jose's and Web Crypto's errors.
    const raw = createLocalJWKSet({ keys: [good.jwk, ...Object.values(bad)] });
    for (const fast of [true, false]) {
      setFastVerify(fast);
      for (const [kid, [alg, bytes]] of Object.entries(FORGED_AS)) {
        const token = forgedFor(kid, alg, bytes);
        assert.equal(await statusOf(token, raw), 401, `${kid}, fast path ${fast}`);
        assert.equal(await fastVerify(token, raw, OPTIONS), undefined, kid);
      }
      assert.equal(await statusOf(await sign(good), raw), 200);
    }
  });

  it("leaves them out when the JWKS loads, with one warning however often it loads", async () => {
    const warnings: string[] = [];
    const errors: unknown[] = [];
    const keys = new RefreshingKeySet(
      () => fetchJwks(server.url, 5000),
      { cooldownMs: 0, maxAgeMs: 600_000 },
      (error) => errors.push(error),
      (message) => warnings.push(message),
    );
    assert.equal(await statusOf(await sign(good), keys.getKey), 200);
    for (const [kid, [alg, bytes]] of Object.entries(FORGED_AS)) {
      assert.equal(await statusOf(forgedFor(kid, alg, bytes), keys.getKey), 401, kid);
    }
    assert.deepEqual(
      keys.jwks?.keys.map((key) => key.kid),
      [good.kid],
    );
    await keys.reload();
    await keys.reload();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /6 of 7 keys/);
    assert.deepEqual(errors, []);
  });

  it("keeps keys that are not for signatures, and tells onError when there is no warning callback", async () => {
    const weak = bad["rsa-1024"] as JWK;
    const encryption = { ...weak, kid: "enc", use: "enc", alg: "RSA-OAEP" };
    const notVerify = { ...weak, kid: "wrap", key_ops: ["wrapKey"] };
    const ed448 = { kty: "OKP", crv: "Ed448", x: "AAAA", kid: "ed448" };
    const mixed = await startKeyServer([good.jwk, encryption, notVerify, ed448, weak]);
    try {
      const errors: unknown[] = [];
      const keys = new RefreshingKeySet(
        () => fetchJwks(mixed.url, 5000),
        DEFAULT_TIMING,
        (e) => errors.push(e),
      );
      assert.equal(await statusOf(await sign(good), keys.getKey), 200);
      assert.deepEqual(
        keys.jwks?.keys.map((key) => key.kid),
        [good.kid, "enc", "wrap", "ed448"],
      );
      assert.equal(errors.length, 1);
      assert.equal((errors[0] as Error).name, "UnusableKeysIgnored");
      assert.equal((errors[0] as { code: string }).code, "1 of 5 keys");
    } finally {
      await mixed.close();
    }
  });
});

describe("key set: a withdrawn key", () => {
  const MAX_AGE_MS = 300;

  it("verifies nothing once the key set's copy is older than the maximum age, on the first try", async () => {
    const [withdrawn, next] = [await newSigningKey(), await newSigningKey()];
    const server = await startKeyServer([withdrawn.jwk]);
    try {
      const keys = new RefreshingKeySet(() => fetchJwks(server.url, 5000), {
        cooldownMs: 30_000,
        maxAgeMs: MAX_AGE_MS,
      });
      const token = await sign(withdrawn);
      assert.equal(await statusOf(token, keys.getKey), 200);
      server.keys = [next.jwk];
      await sleep(MAX_AGE_MS + 100);
      // Not "after a background reload": the very first verification past the age waits for one.
      assert.equal(await statusOf(token, keys.getKey), 401);
      assert.equal(await statusOf(await sign(next), keys.getKey), 200);
    } finally {
      await server.close();
    }
  });

  it("is not honoured by the token cache past its key set's maximum age, with nothing reloading", async () => {
    const withdrawn = await newSigningKey();
    const server = await startKeyServer([withdrawn.jwk]);
    try {
      const keys = new RefreshingKeySet(() => fetchJwks(server.url, 5000), {
        cooldownMs: 30_000,
        maxAgeMs: MAX_AGE_MS,
      });
      // Far longer than the key set's age: the key set's age must bound the entry.
      const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 60_000, clockToleranceSeconds: 0 });
      const token = await sign(withdrawn);
      const startedAt = Date.now();
      const epoch = keyRemovalEpoch();
      cache.set("k", await verifyJwt(token, keys.getKey, OPTIONS), startedAt, epoch);
      assert.ok(cache.get("k"), "cached");
      server.keys = [];
      await sleep(MAX_AGE_MS + 100);
      assert.equal(server.fetches, 1, "nothing reloaded the key set");
      assert.equal(cache.get("k"), undefined, "the entry ends with its key set's age");
      assert.equal(await statusOf(token, keys.getKey), 401);
    } finally {
      await server.close();
    }
  });

  it("stays in use past the maximum age while the JWKS endpoint fails, uncached, and one failed reload is waited for", async () => {
    const key = await newSigningKey();
    const server = await startKeyServer([key.jwk]);
    try {
      const failures: unknown[] = [];
      const keys = new RefreshingKeySet(
        () => fetchJwks(server.url, 5000),
        { cooldownMs: 30_000, maxAgeMs: MAX_AGE_MS },
        (error) => failures.push(error),
      );
      const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 60_000, clockToleranceSeconds: 0 });
      const token = await sign(key);
      assert.equal(await statusOf(token, keys.getKey), 200);
      server.failing = true;
      await sleep(MAX_AGE_MS + 100);
      for (let i = 0; i < 5; i++) {
        const startedAt = Date.now();
        const verified = await verifyJwt(token, keys.getKey, OPTIONS);
        cache.set(`k${i}`, verified, startedAt, keyRemovalEpoch());
        assert.equal(cache.get(`k${i}`), undefined, "keys past their age give no cache entry");
      }
      assert.equal(server.fetches, 2, "one reload tried, then the backoff holds");
      assert.equal(failures.length, 1);
    } finally {
      await server.close();
    }
  });
});

describe("key set: rotation", () => {
  const SPACING_MS = 250;
  /** About two seconds of attempts 250 ms apart. */
  const MAX_ATTEMPTS = 9;

  /** Attempts 250 ms apart until the token is accepted; the number of attempts it took. */
  async function attemptsUntilAccepted(token: string, keys: RefreshingKeySet): Promise<number> {
    for (let attempt = 1; attempt <= 40; attempt++) {
      if ((await statusOf(token, keys.getKey)) === 200) return attempt;
      await sleep(SPACING_MS);
    }
    return Number.POSITIVE_INFINITY;
  }

  it("accepts a new key within a few attempts though the JWKS was loaded just before, with default timing", async (t) => {
    const [first, second] = [await newSigningKey(), await newSigningKey()];
    const server = await startKeyServer([first.jwk]);
    try {
      const keys = new RefreshingKeySet(() => fetchJwks(server.url, 5000), DEFAULT_TIMING);
      assert.equal(await statusOf(await sign(first), keys.getKey), 200);
      server.keys = [first.jwk, second.jwk];
      const attempts = await attemptsUntilAccepted(await sign(second), keys);
      t.diagnostic(`accepted at attempt ${attempts}; ${server.fetches} fetches`);
      assert.ok(attempts <= MAX_ATTEMPTS, `accepted after ${attempts} attempts`);
      assert.ok(server.fetches <= 3, `${server.fetches} fetches`);
    } finally {
      await server.close();
    }
  });

  it("accepts a new key within a few attempts under a flood of made-up kids, fetching about once a second", async (t) => {
    const [first, second] = [await newSigningKey(), await newSigningKey()];
    const server = await startKeyServer([first.jwk]);
    let flooding = true;
    let forged = 0;
    const refusals = new Map<number, number>();
    try {
      const keys = new RefreshingKeySet(() => fetchJwks(server.url, 5000), DEFAULT_TIMING);
      assert.equal(await statusOf(await sign(first), keys.getKey), 200);
      const startedAt = Date.now();
      const flood = (async () => {
        while (flooding) {
          const batch = Array.from({ length: 10 }, () =>
            statusOf(forgedFor(randomUUID()), keys.getKey),
          );
          for (const status of await Promise.all(batch)) {
            refusals.set(status, (refusals.get(status) ?? 0) + 1);
          }
          forged += batch.length;
          await sleep(5);
        }
      })();
      await sleep(1500);
      server.keys = [first.jwk, second.jwk];
      const attempts = await attemptsUntilAccepted(await sign(second), keys);
      await sleep(1000);
      flooding = false;
      await flood;
      const elapsedSeconds = (Date.now() - startedAt) / 1000;
      t.diagnostic(
        `accepted at attempt ${attempts}; ${server.fetches} fetches in ${elapsedSeconds} s for ${forged} forged tokens`,
      );
      assert.ok(attempts <= MAX_ATTEMPTS, `accepted after ${attempts} attempts`);
      assert.deepEqual([...refusals.keys()], [401], "every forged token is a 401");
      assert.ok(forged > 100, `${forged} forged tokens`);
      // One load per second at most, the first load included.
      assert.ok(
        server.fetches <= Math.ceil(elapsedSeconds) + 1,
        `${server.fetches} fetches in ${elapsedSeconds} s for ${forged} forged tokens`,
      );
      assert.equal(await statusOf(await sign(first), keys.getKey), 200, "the old key still counts");
    } finally {
      flooding = false;
      await server.close();
    }
  });
});
