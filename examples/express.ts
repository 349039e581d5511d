import express from "express";
import { ExpressOIDCAuth } from "ts-oidc-auth/express";

const app = express();
const auth = new ExpressOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});

// A standard express.Router with the auth endpoints under /api/auth/v2/…
const router = auth.createAuthRouter({ prefix: "/api" });

// Add your own routes to it before mounting it: they are served below the prefix too.
router.get("/auth/v2/auth-ports", (_req, res) => {
  res.json({ valid_ports: [8080, 8443] });
});
app.use(router);

// Protected routes: req.token holds the validated claims.
app.get("/me", auth.required(), (req, res) => {
  res.json({ sub: req.token?.sub });
});

app.get("/maybe_me", auth.optional(), (req, res) => {
  if (req.token === undefined) {
    res.json({ anonymous: true });
    return;
  }
  res.json({ sub: req.token.sub });
});

// Scopes and claims: every listed scope, and every listed value of each claim path.
app.get(
  "/admin",
  auth.required({ scopes: "myscope", claims: { roles: ["admin"] } }),
  (req, res) => {
    res.json({ hello: req.token?.preferred_username });
  },
);

app.listen(Number(process.env.PORT ?? 8000));
