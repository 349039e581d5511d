import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { HonoOIDCAuth } from "ts-oidc-auth/hono";

const auth = new HonoOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});

// A Hono app with the auth endpoints under /api/auth/v2/…; its base path is the prefix.
const authApp = auth.app({ prefix: "/api" });

// Add your own routes to it before mounting it.
authApp.get("/auth/v2/auth-ports", (c) => c.json({ valid_ports: [8080, 8443] }));

const app = new Hono();
app.route("/", authApp);

// Protected routes: c.get("token") holds the validated claims.
app.get("/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));

app.get("/maybe_me", auth.optional(), (c) => {
  const token = c.get("token");
  return c.json(token === undefined ? { anonymous: true } : { sub: token.sub });
});

// Scopes and claims: every listed scope, and every listed value of each claim path.
app.get("/admin", auth.required({ scopes: "myscope", claims: { roles: ["admin"] } }), (c) =>
  c.json({ hello: c.get("token").preferred_username }),
);

// On Node.js; on Bun, Deno or Cloudflare Workers: export default app;
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8000) });
