import Router from "@koa/router";
import Koa from "koa";
import { KoaOIDCAuth } from "ts-oidc-auth/koa";

const auth = new KoaOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});

// A @koa/router Router with the auth endpoints under /api/auth/v2/…; its prefix is /api.
const authRouter = auth.createAuthRouter({ prefix: "/api" });

// Add your own routes to it before mounting it.
authRouter.get("/auth/v2/auth-ports", (ctx) => {
  ctx.body = { valid_ports: [8080, 8443] };
});

// Protected routes: ctx.state.token holds the validated claims.
const router = new Router();
router.get("/me", auth.required(), (ctx) => {
  ctx.body = { sub: ctx.state.token?.sub };
});

router.get("/maybe_me", auth.optional(), (ctx) => {
  const { token } = ctx.state;
  ctx.body = token === undefined ? { anonymous: true } : { sub: token.sub };
});

// Scopes and claims: every listed scope, and every listed value of each claim path.
router.get("/admin", auth.required({ scopes: "myscope", claims: { roles: ["admin"] } }), (ctx) => {
  ctx.body = { hello: ctx.state.token?.preferred_username };
});

const app = new Koa();
app.use(authRouter.routes()).use(authRouter.allowedMethods());
app.use(router.routes()).use(router.allowedMethods());
app.listen(Number(process.env.PORT ?? 8000));
