/**
 * Tokens that attack the guard: each is wrong in exactly one way, so a test
 * that accepts it fails. Signed with the real IdP key unless the attack is
 * about the key.
 */
import {
  base64url,
  CompactSign,
  exportJWK,
  FlattenedSign,
  generateKeyPair,
  type JWSHeaderParameters,
  type JWTPayload,
  SignJWT,
} from "jose";
import type { DevIdp } from "../../dev-idp/index.ts";

export function validClaims(idp: DevIdp, extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: idp.issuer,
    aud: idp.audience,
    sub: "forged-test-subject",
    iat: now,
    exp: now + 300,
    scope: "openid profile email myscope",
    realm_access: { roles: ["user"] },
    ...extra,
  };
}

export async function signWithIdpKey(idp: DevIdp, claims: JWTPayload): Promise<string> {
  const { kid, privateKey } = idp.signingKey();
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).sign(privateKey);
}

export async function forgedTokens(idp: DevIdp): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000);
  const { kid, publicJwk, privateKey } = idp.signingKey();
  const encoder = new TextEncoder();
  const stranger = await generateKeyPair("RS256");
  const unsigned = (header: object, claims: object) =>
    `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}.`;
  const genuine = await signWithIdpKey(idp, validClaims(idp));
  const [header, , signature] = genuine.split(".");
  return {
    garbage: "not-a-jwt",
    "three garbage parts": "abc.def.ghi",
    expired: await signWithIdpKey(idp, validClaims(idp, { iat: now - 4000, exp: now - 3600 })),
    "not yet valid": await signWithIdpKey(idp, validClaims(idp, { nbf: now + 3600 })),
    "wrong issuer": await signWithIdpKey(
      idp,
      validClaims(idp, { iss: "https://evil.example.org" }),
    ),
    "wrong audience": await signWithIdpKey(idp, validClaims(idp, { aud: "another-api" })),
    "alg none": unsigned({ alg: "none", typ: "JWT" }, validClaims(idp)),
    "HS256 signed with the IdP's public key": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "HS256", kid })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
    "unknown kid": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", kid: "unknown-kid" })
      .sign(stranger.privateKey),
    "right kid, stranger's key": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", kid })
      .sign(stranger.privateKey),
    "tampered payload": `${header}.${base64url.encode(JSON.stringify(validClaims(idp, { sub: "admin" })))}.${signature}`,
    "unknown crit header (genuine key)": await new CompactSign(
      encoder.encode(JSON.stringify(validClaims(idp))),
    )
      .setProtectedHeader({ alg: "RS256", kid, crit: ["urn:x-unknown"], "urn:x-unknown": 1 })
      .sign(privateKey, { crit: { "urn:x-unknown": true } }),
    // Signed over the base64url text itself: a verifier that ignores b64 reads valid claims.
    "b64 false (genuine key)": await unencodedPayload(
      base64url.encode(JSON.stringify(validClaims(idp))),
      { alg: "RS256", kid, b64: false, crit: ["b64"] },
      privateKey,
    ),
    "kid path traversal": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", kid: `../../${kid}` })
      .sign(stranger.privateKey),
    "kid not a string": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", kid: 1 as unknown as string })
      .sign(stranger.privateKey),
    "PS256 with the RS256 key's kid": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "PS256", kid })
      .sign((await generateKeyPair("PS256")).privateKey),
    // Duplicate JSON keys: a parser that keeps the first `alg` would check RS256.
    "duplicate alg, none last": `${base64url.encode(`{"alg":"RS256","kid":"${kid}","alg":"none"}`)}.${base64url.encode(JSON.stringify(validClaims(idp)))}.`,
    "duplicate alg, none first": `${base64url.encode(`{"alg":"none","kid":"${kid}","alg":"RS256"}`)}.${base64url.encode(JSON.stringify(validClaims(idp)))}.`,
    "duplicate aud, wrong one last (genuine key)": await new CompactSign(
      encoder.encode(JSON.stringify(validClaims(idp)).replace(/}$/, ',"aud":"another-api"}')),
    )
      .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
      .sign(privateKey),
    "embedded jwk header": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", jwk: await exportJWK(stranger.publicKey) })
      .sign(stranger.privateKey),
  };
}

/** A compact JWS over an unencoded payload (RFC 7797), which jose only builds in flattened form. */
async function unencodedPayload(
  payload: string,
  header: JWSHeaderParameters & { alg: string },
  key: CryptoKey,
): Promise<string> {
  const jws = await new FlattenedSign(new TextEncoder().encode(payload))
    .setProtectedHeader(header)
    .sign(key);
  return `${jws.protected}.${jws.payload}.${jws.signature}`;
}
