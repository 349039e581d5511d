/**
 * In-process cost of one guard call, no HTTP: the hand-rolled jose guard,
 * ours with the cache off and ours with it on (1,000 distinct RS256 tokens
 * in turn), and the bearer-header parse alone. Run pinned for steadier numbers:
 *
 *   taskset -c 0 node --import tsx bench/micro.ts [jose|nocache|cached|all]
 */
import { createRemoteJWKSet, jwtVerify, SignJWT } from "jose";
import { startDevIdp } from "../dev-idp/index.ts";
import { bearerToken } from "../src/core/bearer.ts";
import { OIDCAuth } from "../src/oidc-auth.ts";

const idp = await startDevIdp();
const { kid, privateKey } = idp.signingKey();
const now = Math.floor(Date.now() / 1000);
const tokens = await Promise.all(
  Array.from({ length: 1000 }, (_, i) =>
    new SignJWT({ scope: "openid profile", realm_access: { roles: ["user"] } })
      .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
      .setIssuer(idp.issuer)
      .setAudience(idp.audience)
      .setSubject(`u${i}`)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .setJti(`j${i}`)
      .sign(privateKey),
  ),
);
const headers = tokens.map((t) => `Bearer ${t}`);
const mk = (size: number) =>
  new OIDCAuth({
    clientId: "demo-app",
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    secret: "x".repeat(40),
    allowedRedirectUris: ["http://127.0.0.1/cb"],
    logger: { warn() {}, error() {} },
    tokenCacheSize: size,
  });
const nocache = mk(0).guard();
const cached = mk(10000).guard();
const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
const opts = { issuer: idp.issuer, audience: idp.audience, algorithms: ["RS256"] };
const jose = async (h: string) => (await jwtVerify(h.slice(7), jwks, opts)).payload;
async function time(name: string, fn: (h: string) => unknown, n: number) {
  for (let i = 0; i < 2000; i++) await fn(headers[i % 1000] as string);
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(headers[i % 1000] as string);
  console.log(name, (((performance.now() - t) * 1000) / n).toFixed(2), "µs/op");
}
const which = process.argv[2] ?? "all";
for (let r = 0; r < 2; r++) {
  if (which === "all" || which === "jose") await time("jose", jose, 20000);
  if (which === "all" || which === "nocache") await time("ours nocache", nocache, 20000);
  if (which === "all" || which === "cached") await time("ours cached", cached, 500000);
  if (which === "all") await time("bearerToken", async (h) => bearerToken(h), 500000);
}
await idp.stop();
