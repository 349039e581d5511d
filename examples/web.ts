import { WebOIDCAuth } from "ts-oidc-auth/web";

const auth = new WebOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
});

// The auth endpoints under /api/auth/v2/…: a Response, or undefined for any other path.
const authHandler = auth.handler({ prefix: "/api" });

// Add your own routes to it: they are served below the prefix too.
authHandler.get("/auth/v2/auth-ports", () => Response.json({ valid_ports: [8080, 8443] }));

// Protected handlers get the validated token's claims after the request.
const me = auth.required()(async (_request, token) => Response.json({ sub: token.sub }));

const maybeMe = auth.optional()(async (_request, token) =>
  Response.json(token === undefined ? { anonymous: true } : { sub: token.sub }),
);

// Scopes and claims: every listed scope, and every listed value of each claim path.
const admin = auth.required({ scopes: "myscope", claims: { roles: ["admin"] } })(
  async (_request, token) => Response.json({ hello: token.preferred_username }),
);

// Your other routes.
const routes: Record<string, (request: Request) => Promise<Response>> = {
  "/me": me,
  "/maybe_me": maybeMe,
  "/admin": admin,
};

async function fetch(request: Request): Promise<Response> {
  const route = routes[new URL(request.url).pathname];
  return (
    (await authHandler(request)) ?? (await route?.(request)) ?? new Response(null, { status: 404 })
  );
}

// Bun (bun run) and Cloudflare Workers serve this default export; Deno: Deno.serve(fetch).
export default { port: Number(process.env.PORT ?? 8000), fetch };
