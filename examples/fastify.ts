import Fastify from "fastify";
import { FastifyOIDCAuth } from "ts-oidc-auth/fastify";

const app = Fastify();
const auth = new FastifyOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});

// The auth endpoints under /api/auth/v2/…, and your own routes in the same prefix.
await app.register(
  async (api) => {
    await api.register(auth.plugin());
    api.get("/auth/v2/auth-ports", async () => ({ valid_ports: [8080, 8443] }));
  },
  { prefix: "/api" },
);

// Protected routes: request.token holds the validated claims.
app.get("/me", { preHandler: auth.required() }, async (request) => ({
  sub: request.token?.sub,
}));

app.get("/maybe_me", { preHandler: auth.optional() }, async (request) =>
  request.token === undefined ? { anonymous: true } : { sub: request.token.sub },
);

// Scopes and claims: every listed scope, and every listed value of each claim path.
const admins = auth.required({ scopes: "myscope", claims: { roles: ["admin"] } });
app.get("/admin", { preHandler: admins }, async (request) => ({
  hello: request.token?.preferred_username,
}));

await app.listen({ port: Number(process.env.PORT ?? 8000) });
