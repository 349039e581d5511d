/**
 * GET /auth/v2/logout: ends what a presented token belongs to (the broker
 * session), and with browser sessions on the session of the request's
 * cookie (cleared, and revoked where a store holds it), then redirects to
 * the IdP's end-session endpoint (OpenID Connect RP-Initiated Logout 1.0
 * §2), else to the allowed `post_logout_redirect_uri`, else home: never an
 * open redirect.
 */
import { bearerToken } from "../bearer.ts";
import { param, redirectResponse } from "../http.ts";
import type { Endpoint } from "./context.ts";

export const logout: Endpoint = async (context, request) => {
  const { query } = request;
  const requested = param(query, "post_logout_redirect_uri");
  const allowed = requested === undefined ? undefined : context.redirects.allowed(requested);
  const presented = bearerToken(request.authorization);
  if (presented !== undefined) await context.mode.revoke(presented);
  const ended = await context.sessions?.end(request.browser);
  const idTokenHint = param(query, "id_token_hint") ?? ended?.idToken;
  const endSession = await context.idp.endSessionUrl({
    // Keycloak 18+ wants id_token_hint or client_id with a redirect URI.
    client_id: context.options.clientId,
    ...(idTokenHint === undefined ? {} : { id_token_hint: idTokenHint }),
    ...(allowed === undefined ? {} : { post_logout_redirect_uri: allowed }),
  });
  const { proxy } = context.options;
  const redirect = redirectResponse(
    endSession?.href ?? allowed ?? (proxy ? new URL("/", proxy).href : "/"),
  );
  return ended === undefined || ended.cookies.length === 0
    ? redirect
    : { ...redirect, cookies: ended.cookies };
};
