/**
 * GET /auth/v2/userinfo: py-oidc-auth's user fields (userinfo-fields.ts)
 * from a valid bearer token's claims, completed by the token mode (at the
 * IdP's userinfo endpoint, for the IdP's own tokens).
 */
import { bearerToken } from "../bearer.ts";
import { jsonResponse } from "../http.ts";
import { userinfoFields } from "../userinfo-fields.ts";
import type { Endpoint } from "./context.ts";

export const userinfo: Endpoint = async (context, { authorization }) => {
  const token = await context.verifyBearer(authorization);
  // verifyBearer found one bearer token in the header, or threw.
  const accessToken = bearerToken(authorization) as string;
  return jsonResponse(200, userinfoFields(await context.mode.userClaims(token, accessToken)));
};
