/**
 * GET /auth/v2/userinfo: py-oidc-auth's user fields from a valid bearer
 * token's claims, completed by the token mode (at the IdP's userinfo
 * endpoint, for the IdP's own tokens).
 */
import { bearerToken } from "../bearer.ts";
import { missingToken } from "../errors.ts";
import { jsonResponse } from "../http.ts";
import type { Endpoint } from "./context.ts";

export const userinfo: Endpoint = async (context, { authorization }) => {
  const accessToken = bearerToken(authorization);
  if (accessToken === undefined) throw missingToken();
  const token = await context.verifyBearer(authorization);
  const claims = await context.mode.userClaims(token, accessToken);
  const text = (name: string) => (typeof claims[name] === "string" ? (claims[name] as string) : "");
  return jsonResponse(200, {
    username: text("preferred_username"),
    first_name: text("given_name"),
    last_name: text("family_name"),
    email: text("email"),
    pw_name: text("preferred_username"),
  });
};
