/**
 * Tokens that attack the guard: each is wrong in exactly one way, so a test
 * that accepts it fails. Signed with the real IdP key unless the attack is
 * about the key.
 */
import { base64url, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
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
  const { kid, publicJwk } = idp.signingKey();
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
    "embedded jwk header": await new SignJWT(validClaims(idp))
      .setProtectedHeader({ alg: "RS256", jwk: await exportJWK(stranger.publicKey) })
      .sign(stranger.privateKey),
  };
}
