/**
 * The adapters under test. Each entry builds the same small app in its
 * framework's own idiom: the auth router (with the seed's custom
 * `auth-ports` route added to it) and protected routes. The conformance
 * suite runs every test against every entry: adding an adapter means adding
 * an entry here, not copying tests.
 */
import type { AddressInfo } from "node:net";
import type { OIDCAuthOptions, Requirement, RouterOptions } from "../../src/index.ts";

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export interface AdapterFixture {
  name: string;
  start(options: OIDCAuthOptions, router: RouterOptions): Promise<RunningApp>;
}

/** The protected routes every fixture app serves, with the requirement of each. */
export const PROTECTED_ROUTES: Array<{
  path: string;
  optional: boolean;
  requirement?: Requirement;
}> = [
  { path: "/me", optional: false },
  { path: "/maybe-me", optional: true },
  { path: "/scoped", optional: false, requirement: { scopes: "myscope profile" } },
  { path: "/admin-scope", optional: false, requirement: { scopes: ["admin:write"] } },
  { path: "/admins", optional: false, requirement: { claims: { roles: "admin" } } },
  { path: "/maybe-admin", optional: true, requirement: { claims: { roles: "admin" } } },
];

/** What a protected route answers: the caller's subject, or anonymous. */
export function describeCaller(token: { sub: string; preferred_username?: string } | undefined) {
  return token === undefined
    ? { anonymous: true }
    : { sub: token.sub, username: token.preferred_username ?? null };
}

export const AUTH_PORTS = { valid_ports: [8080, 8443] };

const express: AdapterFixture = {
  name: "express",
  async start(options, routerOptions) {
    const { default: expressApp } = await import("express");
    const { ExpressOIDCAuth } = await import("../../src/adapters/express.ts");
    const auth = new ExpressOIDCAuth(options);
    const router = auth.createAuthRouter(routerOptions);
    router.get(`${routerOptions.prefix ?? ""}/auth/v2/auth-ports`, (_req, res) => {
      res.json(AUTH_PORTS);
    });
    const app = expressApp();
    app.use(router);
    for (const route of PROTECTED_ROUTES) {
      const guard = route.optional
        ? auth.optional(route.requirement)
        : auth.required(route.requirement);
      app.get(route.path, guard, (req, res) => {
        res.json(describeCaller(req.token));
      });
    }
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
};

export const ADAPTERS: AdapterFixture[] = [express];
