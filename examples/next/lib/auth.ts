import { NextOIDCAuth } from "ts-oidc-auth/next";

export const auth = new NextOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});
