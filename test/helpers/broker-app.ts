/**
 * A broker-mode Express app whose public URL is known before the auth object
 * is built (the broker's issuer is `proxy` + prefix, and peers find its keys
 * there). Used by the broker tests and the multi-process test's instances.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { ExpressOIDCAuth } from "../../src/adapters/express.ts";
import type { OIDCAuthOptions } from "../../src/index.ts";
import { describeCaller, PROTECTED_ROUTES } from "./adapters.ts";

export const BROKER_PREFIX = "/api";

export interface BrokerApp {
  url: string;
  /** The broker's issuer: url + prefix. */
  issuer: string;
  auth: ExpressOIDCAuth;
  close(): Promise<void>;
}

export async function startBrokerApp(
  options: (url: string) => OIDCAuthOptions,
  port = 0,
): Promise<BrokerApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = new ExpressOIDCAuth({ proxy: url, brokerMode: true, ...options(url) });
  const app = express();
  app.use(auth.createAuthRouter({ prefix: BROKER_PREFIX }));
  for (const route of PROTECTED_ROUTES) {
    const guard = route.optional
      ? auth.optional(route.requirement)
      : auth.required(route.requirement);
    app.get(route.path, guard, (req, res) => {
      res.json(describeCaller(req.token));
    });
  }
  app.get("/claims", auth.required(), (req, res) => {
    res.json(req.token);
  });
  server.on("request", app);
  return {
    url,
    issuer: `${url}${BROKER_PREFIX}`,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
