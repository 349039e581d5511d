/** RS256 signing keys of the dev IdP. */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** Public JWK with `kid`, `alg` and `use`, exactly as published in the JWKS. */
  publicJwk: JWK;
  /** Private JWK handed to oidc-provider's keystore. */
  privateJwk: JWK;
}

export async function generateSigningKey(): Promise<SigningKey> {
  // extractable, so the private JWK can be given to oidc-provider (which imports it itself).
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const exportedPublic = await exportJWK(publicKey);
  // The RFC 7638 thumbprint makes kids unique across rotations and restarts.
  const kid = await calculateJwkThumbprint(exportedPublic);
  const meta = { kid, alg: "RS256", use: "sig" } as const;
  return {
    kid,
    privateKey,
    publicJwk: { ...exportedPublic, ...meta },
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
  };
}
