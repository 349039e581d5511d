import { NextOIDCAuth } from "ts-oidc-auth/next";

export const auth = new NextOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
  // The session cookie is sealed under a key derived from this (32+ random bytes).
  secret: process.env.SESSION_SECRET ?? "change-me-to-32-random-bytes-or-more!",
  // Logins that come back to this app keep the user in an encrypted session cookie.
  browserSessions: true,
});
