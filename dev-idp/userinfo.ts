/**
 * Our own userinfo endpoint. oidc-provider refuses every access token that has an audience at
 * its userinfo endpoint, and JWT access tokens always have one; Keycloak accepts its access
 * tokens there, so the dev IdP answers userinfo itself, from the verified JWT.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";
import { claimsForScopes, findUserBySub } from "./users.ts";

export interface UserinfoContext {
  issuer: string;
  audience: string;
  jwks(): JSONWebKeySet;
}

export async function handleUserinfo(
  context: UserinfoContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const token = bearerToken(req);
  if (!token) {
    sendBearerError(res, context.issuer, 401, undefined);
    return;
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(context.jwks()), {
      issuer: context.issuer,
      audience: context.audience,
      algorithms: ["RS256"],
      typ: "at+jwt",
    }));
  } catch {
    sendBearerError(res, context.issuer, 401, {
      error: "invalid_token",
      error_description: "invalid access token",
    });
    return;
  }
  const scopes = new Set(typeof payload.scope === "string" ? payload.scope.split(" ") : []);
  if (!scopes.has("openid")) {
    const error = {
      error: "insufficient_scope",
      error_description: "access token missing openid scope",
      scope: "openid",
    };
    sendBearerError(res, context.issuer, 403, error);
    return;
  }
  const user = payload.sub ? findUserBySub(payload.sub) : undefined;
  if (!user) {
    sendBearerError(res, context.issuer, 401, {
      error: "invalid_token",
      error_description: "unknown subject",
    });
    return;
  }
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(JSON.stringify(claimsForScopes(user, scopes)));
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  return match?.[1];
}

function sendBearerError(
  res: ServerResponse,
  realm: string,
  status: number,
  error: Readonly<Record<string, string>> | undefined,
): void {
  const params = Object.entries({ realm, ...error }).map(
    ([key, value]) => `${key}="${value.replace(/["\\]/g, "")}"`,
  );
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "www-authenticate": `Bearer ${params.join(", ")}`,
  });
  res.end(
    JSON.stringify(
      error ?? { error: "invalid_token", error_description: "no access token provided" },
    ),
  );
}
